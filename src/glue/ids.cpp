// SQL entry points of the ID functions. Buffers are palloc'd before the
// core runs, so the core allocates nothing while Postgres may longjmp.
#include "../core/ids.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "id_style.hpp"
#include "boundary.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
}

namespace core = normalize::core;
using normalize::glue::text_arg;

namespace {

// A text Datum of `len` bytes whose data the caller fills.
text* new_text(std::size_t capacity) {
    text* t = static_cast<text*>(palloc(VARHDRSZ + capacity));
    return t;
}

Datum finish_text(FunctionCallInfo fcinfo, text* t, std::size_t len) {
    if (len == 0)
        PG_RETURN_NULL();
    SET_VARSIZE(t, VARHDRSZ + len);
    PG_RETURN_TEXT_P(t);
}

// The optional last argument of the ID functions: whether case is kept.
// The declarations of earlier versions have none.
bool keep_case_arg(FunctionCallInfo fcinfo, int argno) {
    return PG_NARGS() > argno && PG_GETARG_BOOL(argno);
}

}  // namespace

core::IdStyle normalize::glue::database_id_style(bool keep_case) {
    core::IdStyle style;
    style.keep_case = keep_case;
    style.utf8 = GetDatabaseEncoding() == PG_UTF8;
    return style;
}

// normalize_id(raw [, keep_case]) -> text, NULL when blank
NZ_FUNCTION(nz_normalize_id)
{
    const std::string_view raw = text_arg(fcinfo, 0);
    const core::IdStyle style = normalize::glue::database_id_style(keep_case_arg(fcinfo, 1));
    text* out = new_text(raw.size());
    return finish_text(fcinfo, out, core::normalize_id(raw, VARDATA(out), style));
}

// fold_category(value) -> text: the spelling as the category vocabulary
// compares it
NZ_FUNCTION(nz_fold_category)
{
    const std::string_view raw = text_arg(fcinfo, 0);
    text* out = new_text(raw.size());
    return finish_text(fcinfo, out, core::fold_category(raw, VARDATA(out), normalize::glue::database_id_style(false)));
}

// id_number(raw) -> bigint, NULL when the ID is not a (prefixed) number
NZ_FUNCTION(nz_id_number)
{
    const core::IdParts parts = core::parse_id(text_arg(fcinfo, 0), normalize::glue::database_id_style(false));
    if (!parts.valid)
        PG_RETURN_NULL();
    PG_RETURN_INT64(parts.number);
}

// id_prefix(raw) -> text: the normalized prefix before the number ('' for a
// bare number), NULL when the ID is not a (prefixed) number
NZ_FUNCTION(nz_id_prefix)
{
    const core::IdParts parts = core::parse_id(text_arg(fcinfo, 0), normalize::glue::database_id_style(false));
    if (!parts.valid)
        PG_RETURN_NULL();
    text* out = new_text(parts.prefix.size());
    const std::size_t len = core::normalize_id(parts.prefix, VARDATA(out), normalize::glue::database_id_style(false));
    SET_VARSIZE(out, VARHDRSZ + len);
    PG_RETURN_TEXT_P(out);
}

// id_digits(raw) -> int: how many digits the number was spelled with
NZ_FUNCTION(nz_id_digits)
{
    const core::IdParts parts = core::parse_id(text_arg(fcinfo, 0), normalize::glue::database_id_style(false));
    if (!parts.valid)
        PG_RETURN_NULL();
    PG_RETURN_INT32(parts.digits);
}

// stable_key(kind, raw [, keep_case]) -> varchar, NULL when raw is blank
NZ_FUNCTION(nz_stable_key)
{
    const std::string_view kind = text_arg(fcinfo, 0);
    const std::string_view raw = text_arg(fcinfo, 1);
    const core::IdStyle style = normalize::glue::database_id_style(keep_case_arg(fcinfo, 2));
    text* out = new_text(kind.size() + 1 + raw.size());
    return finish_text(fcinfo, out, core::stable_key(kind, raw, VARDATA(out), style));
}
