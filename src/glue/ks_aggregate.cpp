// The ks_test aggregates: transition functions collect the values (plain
// palloc'd memory in the aggregate's context), the final function hands them
// to the core's test.
#include "../core/ks_test.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"
#include "distribution_args.hpp"
#include "profiles.hpp"


extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/memutils.h"
}

namespace core = normalize::core;

namespace {

struct KsState {
    core::Distribution dist;
    int64 n;
    int64 capacity;
    double* values;
};

KsState* new_state(MemoryContext aggcontext, const core::Distribution& dist) {
    auto* st = static_cast<KsState*>(MemoryContextAllocZero(aggcontext, sizeof(KsState)));
    st->dist = dist;
    st->capacity = 1024;
    st->values = static_cast<double*>(
        MemoryContextAllocHuge(aggcontext, st->capacity * sizeof(double)));
    return st;
}

void append(KsState* st, double value) {
    if (st->n == st->capacity) {
        st->capacity *= 2;
        st->values = static_cast<double*>(
            repalloc_huge(st->values, st->capacity * sizeof(double)));
    }
    st->values[st->n++] = value;
}

MemoryContext aggregate_context(FunctionCallInfo fcinfo) {
    MemoryContext aggcontext;
    if (!AggCheckCallContext(fcinfo, &aggcontext))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("ks_test transition function called outside an aggregate")));
    return aggcontext;
}

// Rows with a NULL argument are skipped, as a strict aggregate would.
bool any_null(FunctionCallInfo fcinfo) {
    for (int i = 1; i < PG_NARGS(); ++i)
        if (PG_ARGISNULL(i))
            return true;
    return false;
}

// The transition step both ks_test forms share: skip rows with a NULL, read
// the group's distribution from its first row, collect the value.
Datum accumulate(FunctionCallInfo fcinfo, core::Distribution (*first_row)(FunctionCallInfo)) {
    MemoryContext aggcontext = aggregate_context(fcinfo);
    KsState* st = PG_ARGISNULL(0) ? nullptr : reinterpret_cast<KsState*>(PG_GETARG_POINTER(0));
    if (any_null(fcinfo)) {
        if (st == nullptr)
            PG_RETURN_NULL();
        PG_RETURN_POINTER(st);
    }
    if (st == nullptr)
        st = new_state(aggcontext, first_row(fcinfo));
    append(st, PG_GETARG_FLOAT8(1));
    PG_RETURN_POINTER(st);
}

core::Distribution family_of_row(FunctionCallInfo fcinfo) {
    return normalize::glue::distribution_from_generic_args(fcinfo, 2, 3, PG_NARGS() >= 6 ? 4 : -1);
}

core::Distribution profile_of_row(FunctionCallInfo fcinfo) {
    return normalize::glue::lookup_profile(normalize::glue::text_arg(fcinfo, 2));
}

}  // namespace

// ks_accum(state, value, family, params [, lower, upper])
NZ_FUNCTION(nz_ks_accum) { return accumulate(fcinfo, family_of_row); }

// ks_accum_profile(state, value, profile)
NZ_FUNCTION(nz_ks_accum_profile) { return accumulate(fcinfo, profile_of_row); }

// ks_final(state) -> normalize.ks_result; NULL over no rows, like avg().
NZ_FUNCTION(nz_ks_final)
{
    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();
    auto* st = reinterpret_cast<KsState*>(PG_GETARG_POINTER(0));
    const core::KsResult r = core::ks_test(st->values, static_cast<std::size_t>(st->n),
                                           st->dist, normalize::glue::cancel_requested);
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("ks_test must be called where a record can be returned")));
    desc = BlessTupleDesc(desc);
    Datum values[3] = {Float8GetDatum(r.statistic), Int64GetDatum(r.n),
                       Float8GetDatum(r.p_value)};
    bool nulls[3] = {false, false, false};
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
