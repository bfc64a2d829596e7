// Raw entity IDs as they come from operational systems ('ACCT-0042',
// ' 00042 ', '10000042', 'cust_42', '{01A2...}') and the keys the normalized
// schema uses.
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

// How an ID is read. Case is folded unless the entity's IDs differ only by
// case somewhere (then case is significant: reconciliation decides per
// entity). The Unicode rules (blanks, letters beyond ASCII) apply to UTF-8
// text; other encodings get the ASCII rules only.
struct IdStyle {
    bool keep_case = false;
    bool utf8 = true;
};

// The canonical text of an ID. Conservative: it only merges spellings that
// cannot be two different IDs.
// - Blanks: white space (ASCII and Unicode: no-break space, the U+2000
//   spaces, ideographic space, ...) is trimmed at both ends and inner runs
//   become one blank; zero-width characters (U+200B-U+200D, U+2060, U+FEFF)
//   are removed.
// - Braces around the whole ID ('{...}', as GUIDs are often written) go.
// - Zeros: only when the ID is a number, or a number after a prefix without
//   digits, are the number's leading zeros dropped ('0042' -> '42',
//   'ACCT-0042' -> 'acct-42') and a tail of a decimal point and zeros
//   ('42.0' -> '42'). Digits anywhere else are kept as they are, so
//   '01a2...' and '1a02...' stay apart.
// - Case: letters are lower-cased (ASCII, Latin-1, Latin Extended-A, Greek,
//   Cyrillic) unless style.keep_case.
// Empty when the ID is blank. Never longer than raw: out needs raw.size()
// bytes.
std::size_t normalize_id(std::string_view raw, char* out, IdStyle style = {});
std::string normalize_id(std::string_view raw, IdStyle style = {});

// A category's spelling as the vocabulary compares it ('Past_Due ',
// 'PAST-DUE' -> 'past due'): blanks (as for IDs), underscores and hyphens
// trimmed at the ends and each inner run of them one blank, zero-width
// characters removed, letters lower-cased (as for IDs; style.keep_case is
// ignored). Never longer than raw.
std::size_t fold_category(std::string_view raw, char* out, IdStyle style = {});
std::string fold_category(std::string_view raw, IdStyle style = {});

// An ID read as an optional non-significant prefix and a number:
// 'ACCT-0042' -> prefix "ACCT-", number 42, 4 digits. Blanks and braces at
// the ends are ignored. Not valid when the ID does not end in a digit run
// (after an optional ".000"), has digits before it, or the number overflows
// int64.
struct IdParts {
    bool valid = false;
    std::int64_t number = 0;
    int digits = 0;               // as spelled, padding included
    std::string_view prefix;      // a view into raw, not normalized
};
IdParts parse_id(std::string_view raw, IdStyle style = {});

// Normalized IDs longer than this are keyed by a digest (see stable_key):
// keys stay far below the btree limit of about 2.7 kB.
inline constexpr std::size_t kMaxKeyIdBytes = 256;
// How much of an over-long ID its key keeps in front of the digest.
inline constexpr std::size_t kKeptPrefixBytes = 64;

// The deterministic key of an entity: "<kind>:<normalize_id(raw)>", e.g.
// stable_key("account", " 0042") = "account:42"; empty when raw is blank.
// A normalized ID over kMaxKeyIdBytes becomes its first kKeptPrefixBytes
// (cut at a character boundary), '~' and 32 hex digits of the SHA-1 of the
// whole normalized ID. kind must be a lower-case identifier ([a-z][a-z0-9_]*,
// at most 63 bytes); anything else throws ArgumentError. out needs
// kind.size() + 1 + raw.size() bytes (a digest key is shorter than the ID it
// replaces).
std::size_t stable_key(std::string_view kind, std::string_view raw, char* out, IdStyle style = {});
std::string stable_key(std::string_view kind, std::string_view raw, IdStyle style = {});

void check_kind(std::string_view kind);

}  // namespace normalize::core
