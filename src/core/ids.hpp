// Raw entity IDs as they come from operational systems ('ACCT-0042',
// ' 00042 ', '10000042', 'cust_42') and the keys the normalized schema uses.
//
// The functions write into buffers the caller provides and allocate
// nothing, so the glue can hand them palloc'd memory; the std::string
// forms are for the core's own callers and tests.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace normalize::core {

// The canonical text of an ID: surrounding white space removed, inner runs
// of white space made one blank, ASCII letters lower-cased, leading zeros of
// every digit run dropped ('0042' -> '42', 'ACCT-0042' -> 'acct-42'), and a
// decimal point followed only by zeros dropped ('42.0' -> '42'). Empty when
// the ID is blank. Never longer than raw: out needs raw.size() bytes.
std::size_t normalize_id(std::string_view raw, char* out);
std::string normalize_id(std::string_view raw);

// An ID read as an optional non-significant prefix and a number:
// 'ACCT-0042' -> prefix "ACCT-", number 42, 4 digits. Not valid when the ID
// does not end in a digit run (after an optional ".000"), has digits before
// it, or the number overflows int64.
struct IdParts {
    bool valid = false;
    std::int64_t number = 0;
    int digits = 0;               // as spelled, padding included
    std::string_view prefix;      // a view into raw, not normalized
};
IdParts parse_id(std::string_view raw);

// The deterministic key of an entity: "<kind>:<normalize_id(raw)>", e.g.
// stable_key("account", " 0042") = "account:42"; empty when raw is blank.
// kind must be a lower-case identifier ([a-z][a-z0-9_]*, at most 63 bytes);
// anything else throws ArgumentError. out needs kind.size() + 1 + raw.size()
// bytes.
std::size_t stable_key(std::string_view kind, std::string_view raw, char* out);
std::string stable_key(std::string_view kind, std::string_view raw);

void check_kind(std::string_view kind);

}  // namespace normalize::core
