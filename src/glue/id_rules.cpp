// SQL entry points of rule scoring and value matching: the reference values
// and the target IDs come in as arrays, the results go out as rows.
#include "../core/id_rules.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "id_style.hpp"
#include "boundary.hpp"

#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

namespace core = normalize::core;
using normalize::glue::text_view;

namespace {

struct Elements {
    Datum* values;
    bool* nulls;
    int count;
};

// The elements of a one-dimensional array argument (its element type is
// the function's declared one); errors name the argument.
Elements array_elements(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char* argname) {
    ArrayType* a = PG_GETARG_ARRAYTYPE_P(argno);
    if (ARR_NDIM(a) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("%s must be a one-dimensional array, got %d dimensions", argname,
                               ARR_NDIM(a))));
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(elemtype, &len, &byval, &align);
    Elements e{};
    deconstruct_array(a, elemtype, len, byval, align, &e.values, &e.nulls, &e.count);
    return e;
}

std::string_view element_text(const Elements& e, int i) {
    return text_view(reinterpret_cast<const text*>(DatumGetPointer(e.values[i])));
}

// Row counts, one per reference value: a NULL or a negative one is no count
// (score_rules also checks that they add up within int64).
void require_row_counts(const Elements& rows) {
    for (int i = 0; i < rows.count; ++i) {
        if (rows.nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("ref_rows must not contain NULL"),
                            errhint("Give every reference value its row count, as value_counts does.")));
        if (DatumGetInt64(rows.values[i]) < 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("ref_rows must not be negative, got " INT64_FORMAT, DatumGetInt64(rows.values[i])),
                            errhint("Give every reference value its row count, as value_counts does.")));
    }
}

}  // namespace

// score_id_rules(refs text[], ref_rows bigint[], targets text[] [, keep_case boolean])
//   -> TABLE (rule text, parameter text, linked bigint)
// NULL references and targets are skipped: they link nothing. Every count
// is one (see require_row_counts).
NZ_FUNCTION(nz_score_id_rules)
{
    const Elements refs = array_elements(fcinfo, 0, TEXTOID, "refs");
    const Elements rows = array_elements(fcinfo, 1, INT8OID, "ref_rows");
    const Elements targets = array_elements(fcinfo, 2, TEXTOID, "targets");
    if (refs.count != rows.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("refs and ref_rows must have the same length, got %d and %d", refs.count,
                               rows.count),
                        errhint("Pass each reference value with its row count at the same position.")));
    require_row_counts(rows);
    // 0.2.0's declaration has no keep_case.
    const core::IdStyle style = normalize::glue::database_id_style(PG_NARGS() > 3 && PG_GETARG_BOOL(3));

    core::RuleScore scores[core::kMaxRuleScores];
    std::size_t n = 0;
    {
        // Only core work in this scope: its vectors are gone before the next
        // Postgres call.
        std::vector<core::ReferenceValue> ref_values;
        ref_values.reserve(static_cast<std::size_t>(refs.count));
        for (int i = 0; i < refs.count; ++i)
            if (!refs.nulls[i])
                ref_values.push_back(core::ReferenceValue{element_text(refs, i), DatumGetInt64(rows.values[i])});
        std::vector<std::string_view> target_ids;
        target_ids.reserve(static_cast<std::size_t>(targets.count));
        for (int i = 0; i < targets.count; ++i)
            if (!targets.nulls[i])
                target_ids.push_back(element_text(targets, i));
        n = core::score_rules(ref_values, target_ids, scores, style);
    }

    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view name = core::rule_name(scores[i].rule);
        Datum values[3];
        bool nulls[3] = {false, scores[i].rule != core::LinkRule::offset, false};
        values[0] = PointerGetDatum(cstring_to_text_with_len(name.data(), static_cast<int>(name.size())));
        values[1] = nulls[1] ? static_cast<Datum>(0)
                             : PointerGetDatum(cstring_to_text(psprintf(INT64_FORMAT, scores[i].offset)));
        values[2] = Int64GetDatum(scores[i].linked);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// match_id_values(rule text, "offset" bigint, refs text[], ref_rows bigint[],
//                 target_ids text[], target_keys text[] [, keep_case boolean])
//   -> TABLE (raw text, rows bigint, target_key text, matches bigint)
// One row per non-NULL reference value, in order: the smallest key of the
// targets the rule matches it to (NULL when none) and how many there are.
NZ_FUNCTION(nz_match_id_values)
{
    const std::string_view rule_text = normalize::glue::text_arg(fcinfo, 0);
    const int64 offset = PG_GETARG_INT64(1);
    core::LinkRule rule = core::LinkRule::exact;
    if (!core::rule_from_name(rule_text, rule))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("rule must be exact, normalized, number or offset, got \"%.*s\"",
                               static_cast<int>(rule_text.size()), rule_text.data())));
    const Elements refs = array_elements(fcinfo, 2, TEXTOID, "refs");
    const Elements rows = array_elements(fcinfo, 3, INT8OID, "ref_rows");
    const Elements ids = array_elements(fcinfo, 4, TEXTOID, "target_ids");
    const Elements keys = array_elements(fcinfo, 5, TEXTOID, "target_keys");
    if (refs.count != rows.count || ids.count != keys.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s must have the same length, got %d and %d",
                               refs.count != rows.count ? "refs and ref_rows" : "target_ids and target_keys",
                               refs.count != rows.count ? refs.count : ids.count,
                               refs.count != rows.count ? rows.count : keys.count),
                        errhint("Pass each value with its row count or key at the same position.")));
    require_row_counts(rows);
    const core::IdStyle style = normalize::glue::database_id_style(PG_NARGS() > 6 && PG_GETARG_BOOL(6));

    // The results and the positions they belong to, in Postgres memory: the
    // core's vectors are gone before the rows are written.
    core::ValueMatch* matches = static_cast<core::ValueMatch*>(
        palloc(sizeof(core::ValueMatch) * static_cast<std::size_t>(Max(refs.count, 1))));
    int* positions = static_cast<int*>(palloc(sizeof(int) * static_cast<std::size_t>(Max(refs.count, 1))));
    int* target_positions = static_cast<int*>(palloc(sizeof(int) * static_cast<std::size_t>(Max(ids.count, 1))));
    int n_refs = 0;
    {
        std::vector<std::string_view> ref_values, target_ids, target_keys;
        ref_values.reserve(static_cast<std::size_t>(refs.count));
        for (int i = 0; i < refs.count; ++i)
            if (!refs.nulls[i]) {
                positions[n_refs++] = i;
                ref_values.push_back(element_text(refs, i));
            }
        target_ids.reserve(static_cast<std::size_t>(ids.count));
        target_keys.reserve(static_cast<std::size_t>(ids.count));
        for (int i = 0; i < ids.count; ++i)
            if (!ids.nulls[i] && !keys.nulls[i]) {
                target_positions[target_ids.size()] = i;
                target_ids.push_back(element_text(ids, i));
                target_keys.push_back(element_text(keys, i));
            }
        core::match_values(rule, offset, ref_values, target_ids, target_keys, matches, style);
    }

    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (int j = 0; j < n_refs; ++j) {
        const int i = positions[j];
        const core::ValueMatch& m = matches[j];
        Datum values[4] = {refs.values[i], rows.values[i], static_cast<Datum>(0), Int64GetDatum(m.matches)};
        bool nulls[4] = {false, false, m.target < 0, false};
        if (m.target >= 0)
            values[2] = keys.values[target_positions[m.target]];
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        if ((j & 0xffff) == 0)
            CHECK_FOR_INTERRUPTS();
    }
    return static_cast<Datum>(0);
}
