// Kolmogorov-Smirnov: the Kolmogorov survival function, the p-value with
// Stephens' correction, the statistic, and ks_test's argument errors.
#include "test_helpers.hpp"

#include "core/ks_test.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace normalize::core {
namespace {

using test::expect_argument_error;
using test::kInf;
using test::kNaN;
using test::make;
using test::sample;

// Q(lambda) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2), computed to 30
// digits with mpmath.
TEST(KolmogorovSf, KnownValues) {
    EXPECT_EQ(kolmogorov_sf(0), 1.0);
    EXPECT_NEAR(kolmogorov_sf(0.2), 0.999999999999495, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(0.3), 0.999990694198665, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(0.5), 0.963945243664875, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(0.8), 0.544142411574198, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.0), 0.269999671677355, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.17), 0.129390042185619, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.18), 0.123453809429766, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.19), 0.117742292879772, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.36), 0.0494858767553779, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.5), 0.0222179626165251, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(1.63), 0.00984636488848653, 1e-12);
    EXPECT_NEAR(kolmogorov_sf(2.0), 0.000670925255779695, 1e-14);
    EXPECT_NEAR(kolmogorov_sf(2.5), 7.45330634415734e-6, 1e-16);
    EXPECT_NEAR(kolmogorov_sf(3.0), 3.04599594894253e-8, 1e-18);
    // The textbook critical values, to the digits tables give.
    EXPECT_NEAR(kolmogorov_sf(1.36), 0.0494, 0.0005);
    EXPECT_NEAR(kolmogorov_sf(1.63), 0.0098, 0.0001);
}

TEST(KolmogorovSf, DegenerateArguments) {
    EXPECT_EQ(kolmogorov_sf(-1), 1.0);
    EXPECT_EQ(kolmogorov_sf(kNaN), 1.0);
    EXPECT_EQ(kolmogorov_sf(1e-300), 1.0);
    EXPECT_LT(kolmogorov_sf(10), 1e-80);
    EXPECT_EQ(kolmogorov_sf(kInf), 0.0);
}

TEST(KolmogorovSf, ContinuousAcrossTheSeriesSwitch) {
    // The two series meet at 1.18; Q'(1.18) ~ -0.58, so a step of 1e-9 moves
    // Q by ~6e-10 and anything larger is a seam.
    const double below = kolmogorov_sf(std::nextafter(1.18, 0.0));
    const double at = kolmogorov_sf(1.18);
    EXPECT_LT(std::fabs(below - at), 1e-14);
    EXPECT_NEAR(kolmogorov_sf(1.18 - 1e-9) - kolmogorov_sf(1.18 + 1e-9), 2 * 0.5826e-9,
                0.01e-9);
}

TEST(KolmogorovSf, DecreasesMonotonically) {
    double previous = 1.0;
    for (int i = 1; i <= 4000; ++i) {
        const double q = kolmogorov_sf(i * 0.001);
        ASSERT_LE(q, previous) << "at lambda = " << i * 0.001;
        ASSERT_GE(q, 0.0);
        previous = q;
    }
}

TEST(KsPValue, StephensCorrection) {
    // p = Q((sqrt(n) + 0.12 + 0.11 / sqrt(n)) D).
    EXPECT_DOUBLE_EQ(ks_p_value(0.05, 400), kolmogorov_sf((20 + 0.12 + 0.11 / 20) * 0.05));
    // Tabulated 5% critical values of D: n = 5: 0.56328, n = 10: 0.40925,
    // large n: 1.3581 / sqrt(n). The corrected asymptotic p-value is within
    // two digits of 0.05 at each.
    EXPECT_NEAR(ks_p_value(0.56328, 5), 0.05, 0.003);
    EXPECT_NEAR(ks_p_value(0.40925, 10), 0.05, 0.003);
    EXPECT_NEAR(ks_p_value(1.3581 / 100, 10000), 0.05, 0.001);
    EXPECT_EQ(ks_p_value(0, 100), 1.0);
}

TEST(KsTest, StatisticOnSmallSamples) {
    const Distribution u = make(Family::Uniform, {}, 0, 1);
    double one[1] = {0.3};
    EXPECT_DOUBLE_EQ(ks_test(one, 1, u).statistic, 0.7);

    double two[2] = {0.75, 0.25};  // unsorted on purpose
    const KsResult r = ks_test(two, 2, u);
    EXPECT_DOUBLE_EQ(r.statistic, 0.25);
    EXPECT_EQ(r.n, 2);
    EXPECT_DOUBLE_EQ(r.p_value, ks_p_value(0.25, 2));
    // Sorted in place, as documented.
    EXPECT_EQ(two[0], 0.25);
    EXPECT_EQ(two[1], 0.75);

    // Infinities are fine: F = 0 and 1.
    double inf[2] = {kInf, -kInf};
    EXPECT_DOUBLE_EQ(ks_test(inf, 2, u).statistic, 0.5);

    // Ties: both values at one point.
    double ties[2] = {0.5, 0.5};
    EXPECT_DOUBLE_EQ(ks_test(ties, 2, u).statistic, 0.5);
}

// x_i = F^-1((i + 0.5) / n): the statistic is exactly 1 / (2n) up to rounding.
std::vector<double> exact_quantiles(const Distribution& d, std::size_t n) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double u = (static_cast<double>(i) + 0.5) / static_cast<double>(n);
        switch (d.method) {
        case Method::Plain:
            x[i] = base_quantile(d, u, false);
            break;
        case Method::Reject:
        case Method::Inverse:
            x[i] = d.upper_tail ? base_quantile(d, d.at_lower - u * d.mass, true)
                                : base_quantile(d, d.at_lower + u * d.mass, false);
            break;
        case Method::InverseUpper:
            x[i] = base_quantile(d, d.at_lower - u * d.mass, true);
            break;
        }
    }
    return x;
}

TEST(KsTest, ExactQuantilesGiveATinyStatistic) {
    const std::size_t n = 1000;
    const Distribution cases[] = {
        make(Family::Normal, {0, 1}),
        make(Family::Normal, {0, 1}, -1, 1),
        make(Family::Normal, {0, 1}, -4, -2.5),
        make(Family::Normal, {0, 1}, 2.5, 4),
        make(Family::Gamma, {2, 15}, 20, 70),
        make(Family::Exponential, {0.1}, 10, 40),
    };
    for (const Distribution& d : cases) {
        std::vector<double> x = exact_quantiles(d, n);
        const KsResult r = ks_test(x.data(), x.size(), d);
        EXPECT_NEAR(r.statistic, 0.5 / n, 1e-9) << describe(d);
        EXPECT_GT(r.p_value, 0.999999) << describe(d);
    }
}

TEST(KsTest, ShiftedSampleIsRejected) {
    const Distribution d = make(Family::Normal, {0, 1});
    std::vector<double> x = exact_quantiles(d, 1000);
    for (double& v : x)
        v += 0.25;
    const KsResult r = ks_test(x.data(), x.size(), d);
    // sup |Phi(x - 0.25) - Phi(x)| = Phi(0.125) - Phi(-0.125), plus the
    // 1 / (2n) of the quantile grid.
    EXPECT_NEAR(r.statistic,
                test::std_normal_cdf(0.125) - test::std_normal_cdf(-0.125) + 0.5 / 1000, 1e-4);
    EXPECT_LT(r.p_value, 1e-6);

    // A random sample of a slightly different distribution, 50,000 draws.
    std::vector<double> y = sample(make(Family::Normal, {0.05, 1}), 3, 50000);
    EXPECT_LT(ks_test(y.data(), y.size(), d).p_value, 1e-6);
    // And of a slightly wider truncation (3% of the draws above 1).
    std::vector<double> z = sample(make(Family::Normal, {0, 1}, -1, 1.1), 3, 50000);
    EXPECT_LT(ks_test(z.data(), z.size(), make(Family::Normal, {0, 1}, -1, 1)).p_value, 1e-6);
}

TEST(KsTest, ArgumentErrors) {
    double x[3] = {1, 2, 3};
    expect_argument_error([&] { ks_test(x, 3, make(Family::Poisson, {3})); },
                          {"ks_test needs a continuous family, got poisson"});
    expect_argument_error([&] { ks_test(x, 3, make(Family::Bernoulli, {0.5})); },
                          {"ks_test needs a continuous family, got bernoulli"});
    expect_argument_error([&] { ks_test(x, 0, make(Family::Normal, {0, 1})); },
                          {"ks_test needs at least one value"});
    double with_nan[3] = {1, kNaN, 3};
    expect_argument_error([&] { ks_test(with_nan, 3, make(Family::Normal, {0, 1})); },
                          {"NaN"});
}

}  // namespace
}  // namespace normalize::core
