// The Boost.Math policy every distribution function in the core uses. Errors
// are thrown as the std exceptions that the glue maps to SQLSTATEs
// (domain_error -> 22023, overflow_error -> 22003), and double is not
// promoted to long double: x87 long double is slow and its results differ
// between platforms, which would defeat golden-value tests.
#pragma once
#include "cpp_only.hpp"

#include <boost/math/policies/policy.hpp>

namespace normalize::core {

namespace bm_policies = boost::math::policies;

using MathPolicy = bm_policies::policy<
    bm_policies::domain_error<bm_policies::throw_on_error>,
    bm_policies::pole_error<bm_policies::throw_on_error>,
    bm_policies::overflow_error<bm_policies::throw_on_error>,
    bm_policies::underflow_error<bm_policies::ignore_error>,
    bm_policies::denorm_error<bm_policies::ignore_error>,
    bm_policies::evaluation_error<bm_policies::throw_on_error>,
    bm_policies::promote_float<false>,
    bm_policies::promote_double<false>>;

}  // namespace normalize::core
