// One-sample Kolmogorov-Smirnov test against a Distribution (truncation and
// beta's mapping included, through core::cdf).
#pragma once
#include "cpp_only.hpp"

#include "distribution.hpp"
#include "errors.hpp"

#include <cstddef>
#include <cstdint>

namespace normalize::core {

struct KsResult {
    double statistic;  // D = sup |F_n(x) - F(x)|
    std::int64_t n;
    double p_value;
};

// Q(lambda) = P(K > lambda) for the Kolmogorov distribution.
double kolmogorov_sf(double lambda);

// Asymptotic p-value of D for a sample of n, with Stephens' (1970) small-sample
// correction of the argument: accurate to about two digits from n = 5 on, and
// better as n grows, which is where the product uses it (thousands of draws).
double ks_p_value(double statistic, std::int64_t n);

// Sorts values in place. Throws ArgumentError for a discrete family, an
// empty sample or a NaN value.
KsResult ks_test(double* values, std::size_t n, const Distribution& dist,
                 InterruptCheck check = nullptr);

}  // namespace normalize::core
