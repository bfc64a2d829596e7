// Module registration and the small catalog functions about families.
#include "../core/distribution.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"
#include "distribution_args.hpp"
#include "feature_workers.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;
}

namespace core = normalize::core;

// family_parameters(family) -> text[]: the names params[] takes, in order.
NZ_FUNCTION(nz_family_parameters)
{
    const core::Family family = core::parse_family(normalize::glue::text_arg(fcinfo, 0));
    const std::size_t n = core::parameter_count(family);
    Datum names[core::kMaxParams];
    for (std::size_t i = 0; i < n; ++i)
        names[i] = CStringGetTextDatum(core::parameter_name(family, i));
    PG_RETURN_ARRAYTYPE_P(construct_array(names, static_cast<int>(n), TEXTOID, -1, false,
                                          TYPALIGN_INT));
}

// check_distribution(family, params, lower, upper) -> true, or the error
// that a generator would raise for these arguments.
NZ_FUNCTION(nz_check_distribution)
{
    normalize::glue::distribution_from_generic_args(fcinfo, 0, 1, 2);
    PG_RETURN_BOOL(true);
}

// distribution_cdf(x, family, params, lower, upper): the CDF the generators
// sample from and ks_test tests against.
NZ_FUNCTION(nz_distribution_cdf)
{
    const core::Distribution dist =
        normalize::glue::distribution_from_generic_args(fcinfo, 1, 2, 3);
    PG_RETURN_FLOAT8(core::cdf(dist, PG_GETARG_FLOAT8(0)));
}

extern "C" PGDLLEXPORT void _PG_init(void);

// The settings of the module, defined as it is loaded.
extern "C" void _PG_init(void) { normalize::glue::define_worker_setting(); }
