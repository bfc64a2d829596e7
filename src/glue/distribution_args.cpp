#include "distribution_args.hpp"

#include <cmath>
#include <limits>

namespace normalize::glue {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void range_from_args(FunctionCallInfo fcinfo, int lower_arg, double* lower, double* upper) {
    *lower = -kInf;
    *upper = kInf;
    if (lower_arg >= 0) {
        *lower = PG_GETARG_FLOAT8(lower_arg);
        *upper = PG_GETARG_FLOAT8(lower_arg + 1);
    }
}

}  // namespace

core::Distribution distribution_from_args(FunctionCallInfo fcinfo, core::Family family,
                                          const ArgLayout& layout) {
    const std::size_t nparams = core::parameter_count(family);
    double params[core::kMaxParams] = {0, 0};
    for (std::size_t i = 0; i < nparams; ++i)
        params[i] = PG_GETARG_FLOAT8(layout.first_param + static_cast<int>(i));
    double lower, upper;
    range_from_args(fcinfo, layout.lower, &lower, &upper);
    return core::make_distribution(family, params, nparams, lower, upper);
}

core::Distribution distribution_from_generic_args(FunctionCallInfo fcinfo, int family_arg,
                                                  int params_arg, int lower_arg) {
    const std::string_view family_text = text_arg(fcinfo, family_arg);
    const Float8Array params = float8_array_arg(fcinfo, params_arg, "params");
    double lower, upper;
    range_from_args(fcinfo, lower_arg, &lower, &upper);
    return core::make_distribution(core::parse_family(family_text), params.values,
                                   params.count, lower, upper);
}

}  // namespace normalize::glue
