// The Boost.Math policy every distribution function in the core uses.
// Domain, pole and evaluation errors are thrown as the std exceptions that
// the glue maps to SQLSTATEs (domain_error -> 22023; an evaluation_error is
// rethrown by the core as a RangeError naming the distribution, 22003), and
// double is not promoted to long double: x87 long double is slow and its
// results differ between platforms, which would defeat golden-value tests.
//
// Overflow gives infinity rather than an error. Boost 1.74 computes some
// well-defined CDFs through an intermediate that overflows, and only a
// throwing policy turns that into an error: the gamma CDF at x far below a
// shape above about 170 (tgamma(shape)), which is 0, and the Poisson CDF at
// k above about 170 for a small mean, which is 1, both raised "Result of
// tgamma is too large to represent". With overflow ignored they are 0 and 1.
// What the core returns is checked instead: a CDF that is NaN and a draw
// that is not finite are RangeErrors, and a quantile of infinity falls
// outside any finite range.
#pragma once
#include "cpp_only.hpp"

#include <boost/math/policies/policy.hpp>

namespace normalize::core {

namespace bm_policies = boost::math::policies;

using MathPolicy = bm_policies::policy<
    bm_policies::domain_error<bm_policies::throw_on_error>,
    bm_policies::pole_error<bm_policies::throw_on_error>,
    bm_policies::overflow_error<bm_policies::ignore_error>,
    bm_policies::underflow_error<bm_policies::ignore_error>,
    bm_policies::denorm_error<bm_policies::ignore_error>,
    bm_policies::evaluation_error<bm_policies::throw_on_error>,
    bm_policies::promote_float<false>,
    bm_policies::promote_double<false>>;

}  // namespace normalize::core
