// Inputs at the edge of double precision, found while writing this suite:
// each once drew NaN or Infinity, or gave a wrong CDF. Each test accepts
// either remedy (refuse the input with an ArgumentError, or handle it
// correctly), so they pin the outcome rather than the remedy.
#include "test_helpers.hpp"

#include "core/sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

using test::kInf;
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

// Boost 1.74's incomplete gamma gives up (evaluation_error) from a shape or
// mean of about 2.09e10, at x equal to it; kMaxShape keeps a margin below.
// At the limit every CDF, survival function and quantile evaluates.
TEST(PrecisionLimits, TheLargestShapeAndMeanEvaluate) {
    const Distribution gamma = make(Family::Gamma, {kMaxShape, 1});
    const Distribution poisson = make(Family::Poisson, {kMaxShape});
    for (double k : {-40.0, -5.0, -1.0, 0.0, 0.5, 1.0, 5.0, 40.0}) {
        const double x = kMaxShape + k * std::sqrt(kMaxShape);
        EXPECT_TRUE(std::isfinite(cdf(gamma, x))) << x;
        EXPECT_TRUE(std::isfinite(cdf(poisson, x))) << x;
    }
    EXPECT_NEAR(cdf(gamma, kMaxShape), 0.5, 1e-4);
    for (double u : {1e-300, 1e-9, 0.3, 0.5, 0.7, 1 - 1e-9}) {
        EXPECT_TRUE(std::isfinite(base_quantile(gamma, u, false))) << u;
        EXPECT_TRUE(std::isfinite(base_quantile(gamma, u, true))) << u;
    }
    // A truncation near the limit inverts the quantile to draw.
    const Distribution tail = make(Family::Gamma, {kMaxShape, 1}, kMaxShape + 5 * std::sqrt(kMaxShape), kInf);
    for (double v : sample(tail, 1, 20))
        ASSERT_GE(v, tail.lower);
}

// Past the limit Boost.Math gives up; should a distribution get there (it
// is built by hand here, as validation refuses it), the error names it.
TEST(PrecisionLimits, AnEvaluationThatBoostGivesUpIsARangeError) {
    Distribution d;
    d.family = Family::Gamma;
    d.param[0] = 1e11;
    d.param[1] = 1;
    try {
        cdf(d, 1e11);
        ADD_FAILURE() << "Boost.Math evaluated gamma(1e11) at its mean";
    } catch (const RangeError& e) {
        EXPECT_STREQ(e.what(), "the CDF of gamma(shape=100000000000, scale=1) at 100000000000 "
                               "cannot be evaluated in double precision");
        EXPECT_NE(e.detail().find("Series evaluation exceeded"), std::string::npos) << e.detail();
        EXPECT_FALSE(e.hint().empty());
    }
}

// Boost 1.74 computes these through tgamma of the shape (or of k + 1),
// which overflows: with a throwing overflow policy the well-defined answers
// 0 and 1 were errors.
TEST(PrecisionLimits, CdfsWhoseIntermediateOverflowsAreExact) {
    EXPECT_EQ(cdf(make(Family::Gamma, {1000, 1}), 1e-300), 0.0);
    EXPECT_EQ(cdf(make(Family::Gamma, {kMaxShape, 1}), 1e-10), 0.0);
    EXPECT_EQ(cdf(make(Family::Poisson, {1e-10}), 1000), 1.0);
    EXPECT_EQ(cdf(make(Family::Poisson, {3}), 1e300), 1.0);
    // A truncation whose bound lies where the intermediate overflows.
    EXPECT_NO_THROW(make(Family::Gamma, {1000, 1}, 1e-300, 2000));
}

// A truncated draw that cannot land in range is a RangeError, not an
// unknown exception (it would be XX000).
TEST(PrecisionLimits, RangeErrorIsARangeError) {
    EXPECT_THROW(throw RangeError("m", "h"), std::range_error);
    const RangeError e("m", "h", "d");
    EXPECT_EQ(e.hint(), "h");
    EXPECT_EQ(e.detail(), "d");
}

}  // namespace
}  // namespace normalize::core
