// Reads a distribution's family, parameters and range out of a call's
// arguments, by position, and hands them to the core for validation.
#pragma once

#include "../core/distribution.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"


namespace normalize::glue {

// Where a function keeps its arguments. -1: the function has none of that.
struct ArgLayout {
    int first_param;  // the family's parameters, in order
    int seed;
    int lower;  // lower and upper are adjacent: upper = lower + 1
    int kind;
    int purpose;
};

// Builds the distribution from arguments laid out as `layout` says. Bounds
// default to none (beta and uniform: [0, 1]).
core::Distribution distribution_from_args(FunctionCallInfo fcinfo, core::Family family,
                                          const ArgLayout& layout);

// Family, params float8[], and the range at layout.lower (if any).
core::Distribution distribution_from_generic_args(FunctionCallInfo fcinfo, int family_arg,
                                                  int params_arg, int lower_arg);

}  // namespace normalize::glue
