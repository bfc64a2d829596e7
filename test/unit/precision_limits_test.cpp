// Inputs at the edge of double precision, found while writing this suite:
// each once drew NaN or Infinity, or gave a wrong CDF. Each test accepts
// either remedy (refuse the input with an ArgumentError, or handle it
// correctly), so they pin the outcome rather than the remedy.
#include "test_helpers.hpp"

#include "core/sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

namespace normalize::core {
namespace {

using test::make;
using test::sample;

// Either make() refuses the distribution, or check(d) holds.
void refused_or(const std::function<Distribution()>& build,
                const std::function<void(const Distribution&)>& check) {
    Distribution d;
    try {
        d = build();
    } catch (const ArgumentError& e) {
        EXPECT_FALSE(e.hint().empty());
        return;
    }
    check(d);
}

// Boost.Random draws beta as X / (X + Y) with X, Y gamma; for small shapes
// both underflow to 0 and the draw is 0/0 = NaN (about 70 in 100,000 draws
// for beta(0.005, 0.005); rarer, but possible, up to shapes of about 0.01).
TEST(PrecisionLimits, BetaWithSmallShapesNeverDrawsNaN) {
    refused_or([] { return make(Family::Beta, {0.005, 0.005}, 0, 1); },
               [](const Distribution& d) {
                   for (double v : sample(d, 1, 100000)) {
                       ASSERT_FALSE(std::isnan(v));
                       ASSERT_GE(v, 0.0);
                       ASSERT_LE(v, 1.0);
                   }
               });
}

// upper - lower overflows to infinity: beta's mapping lower + (upper -
// lower) * b returns Infinity, outside the range.
TEST(PrecisionLimits, BetaOnAHugeIntervalStaysInside) {
    refused_or([] { return make(Family::Beta, {2, 2}, -1e308, 1e308); },
               [](const Distribution& d) {
                   for (double v : sample(d, 1, 1000)) {
                       ASSERT_GE(v, -1e308);
                       ASSERT_LE(v, 1e308);
                   }
                   EXPECT_NEAR(cdf(d, 0), 0.5, 1e-12);
               });
}

// Same overflow in cdf: (x - lower) / (upper - lower) is x / Infinity = 0,
// so the cdf of uniform on [-1e308, 1e308] is 0 at 0 (and ks_test is wrong).
TEST(PrecisionLimits, UniformCdfOnAHugeInterval) {
    refused_or([] { return make(Family::Uniform, {}, -1e308, 1e308); },
               [](const Distribution& d) {
                   EXPECT_NEAR(cdf(d, 0), 0.5, 1e-12);
                   EXPECT_NEAR(cdf(d, 5e307), 0.75, 1e-12);
               });
}

// exp(mu + sigma Z) overflows for mu above ~709: every draw is Infinity.
TEST(PrecisionLimits, LognormalDoesNotDrawInfinity) {
    refused_or([] { return make(Family::Lognormal, {1000, 1}); },
               [](const Distribution& d) {
                   for (double v : sample(d, 1, 100))
                       ASSERT_TRUE(std::isfinite(v)) << v;
               });
}

}  // namespace
}  // namespace normalize::core
