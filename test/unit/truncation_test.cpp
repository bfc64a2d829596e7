// Truncated sampling is exact: for every method, draws stay inside the range
// and follow the truncated distribution (KS against our cdf, and moments
// against closed forms that do not go through Boost.Math). A clamped sample
// must fail the same KS test, so the test can tell truncation from clamping.
//
// Seeds are fixed, so each test is deterministic; the thresholds leave room
// for a legitimate change of seed or stream (p > 0.001 passes 99.9% of seeds,
// and means are checked to 5 standard errors).
#include "test_helpers.hpp"

#include "core/ks_test.hpp"
#include "core/sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace normalize::core {
namespace {

using test::kInf;
using test::make;
using test::mean_of;
using test::sample;
using test::std_normal_cdf;
using test::std_normal_pdf;
using test::variance_of;

constexpr std::size_t kDraws = 50000;

struct Case {
    const char* name;
    Family family;
    std::vector<double> params;
    double lower, upper;
    Method method;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

class Truncation : public ::testing::TestWithParam<Case> {};

TEST_P(Truncation, DrawsStayInRangeAndFollowTheDistribution) {
    const Case& c = GetParam();
    const Distribution d =
        make_distribution(c.family, c.params.data(), c.params.size(), c.lower, c.upper);
    ASSERT_EQ(d.method, c.method) << "the case no longer exercises the method it names";

    std::vector<double> x = sample(d, 20240611, kDraws);
    const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    EXPECT_GE(*lo, c.lower);
    EXPECT_LE(*hi, c.upper);
    // Not piled on a bound: a clamp would put many draws exactly there.
    const auto on_bound = std::count_if(x.begin(), x.end(), [&](double v) {
        return v == c.lower || v == c.upper;
    });
    EXPECT_LE(on_bound, 1);

    const KsResult r = ks_test(x.data(), x.size(), d);
    EXPECT_EQ(r.n, static_cast<std::int64_t>(kDraws));
    EXPECT_GT(r.p_value, 0.001) << "D = " << r.statistic;
}

INSTANTIATE_TEST_SUITE_P(
    AllMethods, Truncation,
    ::testing::Values(
        Case{"normal_reject", Family::Normal, {0, 1}, -1, 1, Method::Reject},
        Case{"normal_reject_half_bounded", Family::Normal, {0, 1}, -0.5, kInf, Method::Reject},
        Case{"normal_inverse_lower_tail", Family::Normal, {0, 1}, -4, -2.5, Method::Inverse},
        Case{"normal_inverse_unbounded_below", Family::Normal, {0, 1}, -kInf, -3,
             Method::Inverse},
        Case{"normal_inverse_upper_tail", Family::Normal, {0, 1}, 2.5, 4, Method::InverseUpper},
        Case{"normal_inverse_upper_far", Family::Normal, {100, 15}, 170, 250,
             Method::InverseUpper},
        Case{"lognormal_reject", Family::Lognormal, {4.5, 0.4}, 50, 200, Method::Reject},
        Case{"lognormal_inverse", Family::Lognormal, {4.5, 0.4}, 20, 40, Method::Inverse},
        Case{"gamma_reject", Family::Gamma, {2, 15}, 20, 70, Method::Reject},
        Case{"gamma_inverse_upper", Family::Gamma, {2, 15}, 150, 300, Method::InverseUpper},
        Case{"exponential_reject_upper_half", Family::Exponential, {0.1}, 10, 40,
             Method::Reject},
        Case{"exponential_inverse", Family::Exponential, {0.1}, 0, 1, Method::Inverse},
        Case{"exponential_inverse_upper", Family::Exponential, {0.1}, 50, 80,
             Method::InverseUpper},
        // Not truncations, but the same check of draws against cdf.
        Case{"beta_mapped", Family::Beta, {4, 1.5}, 60, 95, Method::Plain},
        Case{"uniform", Family::Uniform, {}, -3, 7, Method::Plain},
        Case{"normal_plain", Family::Normal, {0, 1}, -kInf, kInf, Method::Plain},
        Case{"gamma_plain", Family::Gamma, {2, 15}, -kInf, kInf, Method::Plain}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(Truncation, ClampingWouldBeCaught) {
    const Distribution plain = make(Family::Normal, {0, 1});
    const Distribution truncated = make(Family::Normal, {0, 1}, -1, 1);
    std::vector<double> x = sample(plain, 7, kDraws);
    for (double& v : x)
        v = std::clamp(v, -1.0, 1.0);
    const KsResult r = ks_test(x.data(), x.size(), truncated);
    EXPECT_LT(r.p_value, 1e-6) << "D = " << r.statistic;

    // The same draws, truncated by rejection instead, pass.
    std::vector<double> kept;
    for (double v : sample(plain, 7, kDraws))
        if (v >= -1 && v <= 1)
            kept.push_back(v);
    const KsResult ok = ks_test(kept.data(), kept.size(), truncated);
    EXPECT_GT(ok.p_value, 0.001) << "D = " << ok.statistic;
}

// Mean of normal(mean, sd) truncated to [lower, upper]:
// mean + sd (phi(a) - phi(b)) / (Phi(b) - Phi(a)), a, b standardised.
double truncated_normal_mean(double mean, double sd, double lower, double upper) {
    const double a = (lower - mean) / sd;
    const double b = (upper - mean) / sd;
    // Phi(b) - Phi(a), taken on the survival side in the upper tail so that
    // it does not cancel.
    const double mass = a > 0 ? std_normal_cdf(-a) - std_normal_cdf(-b)
                              : std_normal_cdf(b) - std_normal_cdf(a);
    return mean + sd * (std_normal_pdf(a) - std_normal_pdf(b)) / mass;
}

// Mean of exponential(rate) truncated to [lower, upper]: by memorylessness,
// lower + 1/rate - w e^(-rate w) / (1 - e^(-rate w)) with w = upper - lower.
double truncated_exponential_mean(double rate, double lower, double upper) {
    const double w = upper - lower;
    return lower + 1 / rate - w * std::exp(-rate * w) / (1 - std::exp(-rate * w));
}

void expect_mean(const Distribution& d, double expected, std::int64_t seed) {
    const std::vector<double> x = sample(d, seed, kDraws);
    const double se = std::sqrt(variance_of(x) / static_cast<double>(x.size()));
    EXPECT_NEAR(mean_of(x), expected, 5 * se) << describe(d);
}

TEST(Truncation, NormalMeanMatchesClosedForm) {
    // Spot-check the closed form itself: symmetric range, mean unchanged.
    EXPECT_NEAR(truncated_normal_mean(0, 1, -1, 1), 0.0, 1e-15);
    EXPECT_NEAR(truncated_normal_mean(0, 1, 2.5, 4), 2.8155530794393191, 1e-12);

    const struct {
        double mean, sd, lower, upper;
    } cases[] = {
        {0, 1, -1, 1},         // Reject
        {10, 3, 7, 19},        // Reject, asymmetric
        {0, 1, -4, -2.5},      // Inverse
        {0, 1, 2.5, 4},        // InverseUpper
        {100, 15, 130, 140},   // InverseUpper, narrow
        {0, 1, -kInf, -3},     // Inverse, half-bounded
    };
    std::int64_t seed = 100;
    for (const auto& c : cases) {
        const Distribution d = make(Family::Normal, {c.mean, c.sd}, c.lower, c.upper);
        const double expected = std::isinf(c.lower)
                                    ? c.mean - c.sd * std_normal_pdf((c.upper - c.mean) / c.sd) /
                                                   std_normal_cdf((c.upper - c.mean) / c.sd)
                                    : truncated_normal_mean(c.mean, c.sd, c.lower, c.upper);
        expect_mean(d, expected, seed++);
    }
}

TEST(Truncation, ExponentialMeanMatchesClosedForm) {
    // Without truncation the formula gives 1/rate.
    EXPECT_NEAR(truncated_exponential_mean(0.1, 0, 1e4), 10.0, 1e-12);
    expect_mean(make(Family::Exponential, {0.1}, 10, 40),
                truncated_exponential_mean(0.1, 10, 40), 1);  // Reject
    expect_mean(make(Family::Exponential, {0.1}, 0, 1),
                truncated_exponential_mean(0.1, 0, 1), 2);  // Inverse
    expect_mean(make(Family::Exponential, {0.1}, 50, 80),
                truncated_exponential_mean(0.1, 50, 80), 3);  // InverseUpper
}

TEST(Truncation, LowerAndUpperTailsMirrorEachOther) {
    // normal(0,1) on [-4,-2.5] and on [2.5,4] read the same uniforms, one on
    // the CDF and one on the survival function: the draws are exact mirrors.
    const std::vector<double> low = sample(make(Family::Normal, {0, 1}, -4, -2.5), 5, 1000);
    const std::vector<double> high = sample(make(Family::Normal, {0, 1}, 2.5, 4), 5, 1000);
    for (std::size_t i = 0; i < low.size(); ++i)
        ASSERT_NEAR(low[i], -high[i], 1e-12) << "at draw " << i;
}

TEST(Truncation, FarTailIsSampledWithoutLosingPrecision) {
    // Mass about 1.8e-9: the CDF is useless here, the survival function is not.
    const Distribution d = make(Family::Normal, {0, 1}, 5.9, 6.5);
    ASSERT_EQ(d.method, Method::InverseUpper);
    std::vector<double> x = sample(d, 11, 20000);
    EXPECT_GE(*std::min_element(x.begin(), x.end()), 5.9);
    EXPECT_LE(*std::max_element(x.begin(), x.end()), 6.5);
    EXPECT_GT(ks_test(x.data(), x.size(), d).p_value, 0.001);
    expect_mean(d, truncated_normal_mean(0, 1, 5.9, 6.5), 11);
}

}  // namespace
}  // namespace normalize::core
