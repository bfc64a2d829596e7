// SQL entry points of the generators: per family, a set-returning form of n
// values and a keyed scalar form; plus the generic random_sample forms that
// take the family by name.
#include "../core/sampler.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"
#include "distribution_args.hpp"
#include "profiles.hpp"


#include <algorithm>
#include <cstring>

extern "C" {
#include "funcapi.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
}

namespace core = normalize::core;
using normalize::glue::ArgLayout;

namespace {

enum class Output { Float8, Int8, Bool };

Datum to_datum(double value, Output output) {
    switch (output) {
    case Output::Int8:
        return Int64GetDatum(static_cast<int64>(value));
    case Output::Bool:
        return BoolGetDatum(value != 0.0);
    default:
        return Float8GetDatum(value);
    }
}

// Streams n values of the series stream into the call's tuplestore, a chunk
// at a time, checking for cancel between chunks.
Datum emit_series(FunctionCallInfo fcinfo, const core::Sampler& start, int64 n,
                  Output output) {
    core::check_count(n);
    core::Sampler sampler = start;
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    constexpr int64 kChunk = 4096;
    double chunk[kChunk];
    bool isnull = false;
    for (int64 done = 0; done < n;) {
        const int64 k = std::min(kChunk, n - done);
        core::fill(sampler, chunk, static_cast<std::size_t>(k));
        for (int64 i = 0; i < k; ++i) {
            Datum value = to_datum(chunk[i], output);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
        }
        done += k;
        CHECK_FOR_INTERRUPTS();
    }
    return static_cast<Datum>(0);
}

// The keyed form: the first draw of stream (seed, kind, key, purpose). An
// empty purpose stands for the family's name.
Datum emit_keyed(FunctionCallInfo fcinfo, const core::Distribution& dist, int key_arg,
                 const ArgLayout& layout, Output output) {
    using normalize::glue::text_arg;
    std::string_view purpose = text_arg(fcinfo, layout.purpose);
    if (purpose.empty())
        purpose = core::family_name(dist.family);
    const double value = core::draw_for(dist, PG_GETARG_INT64(layout.seed),
                                        text_arg(fcinfo, layout.kind),
                                        text_arg(fcinfo, key_arg), purpose);
    return to_datum(value, output);
}

// draw(profile, key, seed, kind, purpose): purpose defaults to the profile.
Datum emit_keyed_named(FunctionCallInfo fcinfo, const core::Distribution& dist,
                       std::string_view profile) {
    using normalize::glue::text_arg;
    std::string_view purpose = text_arg(fcinfo, 4);
    if (purpose.empty())
        purpose = profile;
    return Float8GetDatum(core::draw_for(dist, PG_GETARG_INT64(2), text_arg(fcinfo, 3),
                                         text_arg(fcinfo, 1), purpose));
}

// Layouts. Set-returning: (n, params..., seed[, lower, upper]).
// Keyed: (key, params..., seed[, lower, upper], kind, purpose).
constexpr ArgLayout kSeriesTwoParams{1, 3, 4, -1, -1};
constexpr ArgLayout kKeyedTwoParams{1, 3, 4, 6, 7};
constexpr ArgLayout kSeriesOneParam{1, 2, 3, -1, -1};
constexpr ArgLayout kKeyedOneParam{1, 2, 3, 5, 6};
constexpr ArgLayout kSeriesDiscrete{1, 2, -1, -1, -1};
constexpr ArgLayout kKeyedDiscrete{1, 2, -1, 3, 4};
// uniform: (n, lower, upper, seed) and (key, lower, upper, seed, kind, purpose)
constexpr ArgLayout kSeriesUniform{-1, 3, 1, -1, -1};
constexpr ArgLayout kKeyedUniform{-1, 3, 1, 4, 5};

Datum series(FunctionCallInfo fcinfo, core::Family family, const ArgLayout& layout,
             Output output = Output::Float8) {
    const core::Distribution dist =
        normalize::glue::distribution_from_args(fcinfo, family, layout);
    const core::Sampler start{core::series_engine(dist, PG_GETARG_INT64(layout.seed)), dist};
    return emit_series(fcinfo, start, PG_GETARG_INT64(0), output);
}

// A keyed call runs once per row with, nearly always, the same parameters:
// keep the last validated distribution in fn_extra and skip re-validating
// (and recomputing the truncation's CDF values) when the arguments repeat.
struct KeyedCache {
    double args[core::kMaxParams + 2];
    core::Distribution dist;
};

Datum keyed(FunctionCallInfo fcinfo, core::Family family, const ArgLayout& layout,
            Output output = Output::Float8) {
    double args[core::kMaxParams + 2] = {0, 0, 0, 0};
    int nargs = 0;
    const int nparams = static_cast<int>(core::parameter_count(family));
    for (int i = 0; i < nparams; ++i)
        args[nargs++] = PG_GETARG_FLOAT8(layout.first_param + i);
    if (layout.lower >= 0) {
        args[nargs++] = PG_GETARG_FLOAT8(layout.lower);
        args[nargs++] = PG_GETARG_FLOAT8(layout.lower + 1);
    }
    auto* cache = static_cast<KeyedCache*>(fcinfo->flinfo->fn_extra);
    if (cache == nullptr || std::memcmp(cache->args, args, sizeof args) != 0) {
        const core::Distribution dist =
            normalize::glue::distribution_from_args(fcinfo, family, layout);
        if (cache == nullptr) {
            cache = static_cast<KeyedCache*>(
                MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(KeyedCache)));
            fcinfo->flinfo->fn_extra = cache;
        }
        std::memcpy(cache->args, args, sizeof args);
        cache->dist = dist;
    }
    return emit_keyed(fcinfo, cache->dist, 0, layout, output);
}

}  // namespace

NZ_FUNCTION(nz_random_normal) { return series(fcinfo, core::Family::Normal, kSeriesTwoParams); }
NZ_FUNCTION(nz_random_normal_for) { return keyed(fcinfo, core::Family::Normal, kKeyedTwoParams); }
NZ_FUNCTION(nz_random_lognormal) { return series(fcinfo, core::Family::Lognormal, kSeriesTwoParams); }
NZ_FUNCTION(nz_random_lognormal_for) { return keyed(fcinfo, core::Family::Lognormal, kKeyedTwoParams); }
NZ_FUNCTION(nz_random_beta) { return series(fcinfo, core::Family::Beta, kSeriesTwoParams); }
NZ_FUNCTION(nz_random_beta_for) { return keyed(fcinfo, core::Family::Beta, kKeyedTwoParams); }
NZ_FUNCTION(nz_random_gamma) { return series(fcinfo, core::Family::Gamma, kSeriesTwoParams); }
NZ_FUNCTION(nz_random_gamma_for) { return keyed(fcinfo, core::Family::Gamma, kKeyedTwoParams); }
NZ_FUNCTION(nz_random_exponential) { return series(fcinfo, core::Family::Exponential, kSeriesOneParam); }
NZ_FUNCTION(nz_random_exponential_for) { return keyed(fcinfo, core::Family::Exponential, kKeyedOneParam); }
NZ_FUNCTION(nz_random_uniform) { return series(fcinfo, core::Family::Uniform, kSeriesUniform); }
NZ_FUNCTION(nz_random_uniform_for) { return keyed(fcinfo, core::Family::Uniform, kKeyedUniform); }
NZ_FUNCTION(nz_random_poisson) { return series(fcinfo, core::Family::Poisson, kSeriesDiscrete, Output::Int8); }
NZ_FUNCTION(nz_random_poisson_for) { return keyed(fcinfo, core::Family::Poisson, kKeyedDiscrete, Output::Int8); }
NZ_FUNCTION(nz_random_bernoulli) { return series(fcinfo, core::Family::Bernoulli, kSeriesDiscrete, Output::Bool); }
NZ_FUNCTION(nz_random_bernoulli_for) { return keyed(fcinfo, core::Family::Bernoulli, kKeyedDiscrete, Output::Bool); }

// random_sample(family, params, n, seed, lower, upper)
NZ_FUNCTION(nz_random_sample)
{
    const core::Distribution dist =
        normalize::glue::distribution_from_generic_args(fcinfo, 0, 1, 4);
    const core::Sampler start{core::series_engine(dist, PG_GETARG_INT64(3)), dist};
    return emit_series(fcinfo, start, PG_GETARG_INT64(2), Output::Float8);
}

// random_sample_for(key, family, params, seed, lower, upper, kind, purpose)
NZ_FUNCTION(nz_random_sample_for)
{
    const core::Distribution dist =
        normalize::glue::distribution_from_generic_args(fcinfo, 1, 2, 4);
    return emit_keyed(fcinfo, dist, 0, ArgLayout{2, 3, 4, 6, 7}, Output::Float8);
}

// sample_profile(profile, n, seed): stream (seed, "series", "", profile), so
// that two profiles of one family sampled with one seed are independent.
NZ_FUNCTION(nz_sample_profile)
{
    const std::string_view name = normalize::glue::text_arg(fcinfo, 0);
    const core::Distribution dist = normalize::glue::lookup_profile(name);
    const int64 seed = PG_GETARG_INT64(2);
    const core::Sampler start{core::make_engine(seed, "series", "", name), dist};
    return emit_series(fcinfo, start, PG_GETARG_INT64(1), Output::Float8);
}

namespace {

// draw() is called once per row with, nearly always, one profile: keep the
// last profile read in fn_extra so that a query over a million rows runs
// the lookup once. Plain data, in fn_mcxt.
struct DrawCache {
    char name[NAMEDATALEN * 4];
    std::size_t len;
    core::Distribution dist;
};

}  // namespace

// draw(profile, key, seed, kind, purpose); an empty purpose means the
// profile's name, so different profiles give independent values per key.
NZ_FUNCTION(nz_draw)
{
    using normalize::glue::text_arg;
    const std::string_view name = text_arg(fcinfo, 0);
    auto* cache = static_cast<DrawCache*>(fcinfo->flinfo->fn_extra);
    if (cache == nullptr || cache->len != name.size() ||
        std::memcmp(cache->name, name.data(), name.size()) != 0) {
        const core::Distribution dist = normalize::glue::lookup_profile(name);
        if (name.size() > sizeof cache->name)
            return emit_keyed_named(fcinfo, dist, name);
        if (cache == nullptr) {
            cache = static_cast<DrawCache*>(
                MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(DrawCache)));
            fcinfo->flinfo->fn_extra = cache;
        }
        std::memcpy(cache->name, name.data(), name.size());
        cache->len = name.size();
        cache->dist = dist;
    }
    return emit_keyed_named(fcinfo, cache->dist, name);
}
