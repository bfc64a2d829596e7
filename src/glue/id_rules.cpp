// SQL entry point of rule scoring: the reference values and the target IDs
// come in as arrays, the scores go out as rows.
#include "../core/id_rules.hpp"
// Core headers first: they refuse to compile after a Postgres header.
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

// A one-dimensional array of the given element type; errors name the argument.
Elements array_elements(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char* argname) {
    ArrayType* a = PG_GETARG_ARRAYTYPE_P(argno);
    if (ARR_ELEMTYPE(a) != elemtype)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("%s must be an array of %s", argname, format_type_be(elemtype))));
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

}  // namespace

// score_id_rules(refs text[], ref_rows bigint[], targets text[])
//   -> TABLE (rule text, parameter text, linked bigint)
// NULL references and targets are skipped: they link nothing.
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

    core::RuleScore scores[core::kMaxRuleScores];
    std::size_t n = 0;
    {
        // Only core work in this scope: its vectors are gone before the next
        // Postgres call.
        std::vector<core::ReferenceValue> ref_values;
        ref_values.reserve(static_cast<std::size_t>(refs.count));
        for (int i = 0; i < refs.count; ++i)
            if (!refs.nulls[i] && !rows.nulls[i])
                ref_values.push_back(core::ReferenceValue{
                    text_view(reinterpret_cast<const text*>(DatumGetPointer(refs.values[i]))),
                    DatumGetInt64(rows.values[i])});
        std::vector<std::string_view> target_ids;
        target_ids.reserve(static_cast<std::size_t>(targets.count));
        for (int i = 0; i < targets.count; ++i)
            if (!targets.nulls[i])
                target_ids.push_back(text_view(reinterpret_cast<const text*>(DatumGetPointer(targets.values[i]))));
        n = core::score_rules(ref_values, target_ids, scores);
    }

    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view name = core::rule_name(scores[i].rule);
        Datum values[3];
        bool nulls[3] = {false, scores[i].rule != core::LinkRule::offset, false};
        values[0] = PointerGetDatum(cstring_to_text_with_len(name.data(), static_cast<int>(name.size())));
        values[1] = nulls[1] ? static_cast<Datum>(0)
                             : DirectFunctionCall1(int8out, Int64GetDatum(scores[i].offset));
        if (!nulls[1])
            values[1] = PointerGetDatum(cstring_to_text(DatumGetCString(values[1])));
        values[2] = Int64GetDatum(scores[i].linked);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}
