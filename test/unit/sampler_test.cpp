// Sampler: count limits, fill vs draw, per-key draws, the series stream,
// and the discrete and mapped families' outputs.
#include "test_helpers.hpp"

#include "core/sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

using test::expect_argument_error;
using test::kInf;
using test::make;
using test::mean_of;
using test::sample;
using test::variance_of;

TEST(CheckCount, Limits) {
    EXPECT_NO_THROW(check_count(0));
    EXPECT_NO_THROW(check_count(1));
    EXPECT_NO_THROW(check_count(kMaxCount));
    expect_argument_error([] { check_count(-1); },
                          {"n must be between 0 and 10000000000, got -1"});
    expect_argument_error([] { check_count(kMaxCount + 1); },
                          {"n must be between 0 and 10000000000, got 10000000001"});
    expect_argument_error([] { check_count(std::numeric_limits<std::int64_t>::min()); },
                          {"got -9223372036854775808"});
    expect_argument_error([] { check_count(std::numeric_limits<std::int64_t>::max()); },
                          {"got 9223372036854775807"});
}

class FillEqualsDraw : public ::testing::TestWithParam<Distribution> {};

TEST_P(FillEqualsDraw, SameValuesInTheSameOrder) {
    const Distribution d = GetParam();
    Sampler a{series_engine(d, 3), d};
    Sampler b{series_engine(d, 3), d};
    std::vector<double> filled(500);
    fill(a, filled.data(), filled.size());
    for (std::size_t i = 0; i < filled.size(); ++i)
        ASSERT_EQ(filled[i], draw(b)) << "at " << i;
    // And both samplers are left in the same state.
    EXPECT_EQ(draw(a), draw(b));
    // fill of 0 values draws nothing.
    fill(a, nullptr, 0);
    EXPECT_EQ(draw(a), draw(b));
}

INSTANTIATE_TEST_SUITE_P(
    Families, FillEqualsDraw,
    ::testing::Values(make(Family::Normal, {0, 1}), make(Family::Normal, {0, 1}, -1, 1),
                      make(Family::Normal, {0, 1}, -4, -2.5),
                      make(Family::Normal, {0, 1}, 2.5, 4),
                      make(Family::Lognormal, {4.5, 0.4}, 50, 200),
                      make(Family::Beta, {4, 1.5}, 60, 95), make(Family::Uniform, {}),
                      make(Family::Poisson, {3}), make(Family::Bernoulli, {0.2})));

TEST(DrawFor, IsTheFirstDrawOfTheKeysStream) {
    const Distribution d = make(Family::Lognormal, {4.5, 0.4}, 50, 200);
    Sampler s{make_engine(9, "account", "acct-007", "mrr"), d};
    EXPECT_EQ(draw_for(d, 9, "account", "acct-007", "mrr"), draw(s));
}

TEST(DrawFor, DoesNotDependOnOtherKeysOrCallOrder) {
    const Distribution d = make(Family::Normal, {0, 1}, -1, 1);
    std::vector<std::string> keys;
    for (int i = 0; i < 50; ++i)
        keys.push_back("acct-" + std::to_string(i));

    std::map<std::string, double> forward;
    for (const auto& k : keys)
        forward[k] = draw_for(d, 42, "account", k, "health");

    // Backwards, interleaved with other keys, seeds and purposes.
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
        draw_for(d, 42, "account", "other", "health");
        draw_for(d, 43, "account", *it, "health");
        draw_for(d, 42, "account", *it, "mrr");
        EXPECT_EQ(draw_for(d, 42, "account", *it, "health"), forward[*it]) << *it;
    }

    // Different keys give different values.
    std::vector<double> values;
    for (const auto& kv : forward)
        values.push_back(kv.second);
    std::sort(values.begin(), values.end());
    EXPECT_EQ(std::adjacent_find(values.begin(), values.end()), values.end());
}

TEST(DrawFor, DependsOnEveryPartOfTheStreamName) {
    const Distribution d = make(Family::Normal, {0, 1});
    const double base = draw_for(d, 42, "account", "acct-001", "health");
    EXPECT_NE(base, draw_for(d, 43, "account", "acct-001", "health"));
    EXPECT_NE(base, draw_for(d, 42, "device", "acct-001", "health"));
    EXPECT_NE(base, draw_for(d, 42, "account", "acct-002", "health"));
    EXPECT_NE(base, draw_for(d, 42, "account", "acct-001", "mrr"));
}

TEST(SeriesEngine, IsTheSeriesStreamOfTheFamily) {
    const Distribution normal = make(Family::Normal, {0, 1});
    Engine a = series_engine(normal, 42);
    Engine b = make_engine(42, "series", "", "normal");
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(a(), b());
    // Parameters and range do not change the stream, the family does.
    Engine c = series_engine(make(Family::Normal, {5, 2}, 0, 10), 42);
    Engine d = series_engine(normal, 42);
    EXPECT_EQ(c(), d());
    Engine g = series_engine(make(Family::Gamma, {2, 15}), 42);
    Engine n = series_engine(normal, 42);
    EXPECT_NE(g(), n());
    // The seed does.
    Engine s1 = series_engine(normal, 1);
    Engine s2 = series_engine(normal, 2);
    EXPECT_NE(s1(), s2());
}

TEST(Sampler, PoissonIsIntegerWithTheRightMoments) {
    const std::vector<double> x = sample(make(Family::Poisson, {3}), 17, 100000);
    for (double v : x) {
        ASSERT_GE(v, 0.0);
        ASSERT_EQ(v, std::floor(v));
    }
    // Standard errors: mean sqrt(3/1e5) ~ 0.0055; variance ~ 0.015.
    EXPECT_NEAR(mean_of(x), 3.0, 0.03);
    EXPECT_NEAR(variance_of(x), 3.0, 0.08);
}

TEST(Sampler, PoissonLargeLambda) {
    const std::vector<double> m = sample(make(Family::Poisson, {1e6}), 5, 10000);
    for (double v : m)
        ASSERT_EQ(v, std::floor(v));
    EXPECT_NEAR(mean_of(m), 1e6, 60);  // SE 10
    EXPECT_NEAR(std::sqrt(variance_of(m)), 1000, 40);

    // The largest lambda accepted still draws integers near lambda.
    for (double v : sample(make(Family::Poisson, {1e10}), 5, 100)) {
        ASSERT_EQ(v, std::floor(v));
        ASSERT_NEAR(v, 1e10, 10 * std::sqrt(1e10));
    }
}

TEST(Sampler, BernoulliIsZeroOrOneWithTheRightMean) {
    const std::vector<double> x = sample(make(Family::Bernoulli, {0.2}), 17, 100000);
    for (double v : x)
        ASSERT_TRUE(v == 0.0 || v == 1.0) << v;
    EXPECT_NEAR(mean_of(x), 0.2, 0.0065);  // SE 0.00126

    for (double v : sample(make(Family::Bernoulli, {0}), 1, 1000))
        ASSERT_EQ(v, 0.0);
    for (double v : sample(make(Family::Bernoulli, {1}), 1, 1000))
        ASSERT_EQ(v, 1.0);
}

TEST(Sampler, UniformStaysInItsSupport) {
    const std::vector<double> x = sample(make(Family::Uniform, {}, -3, 7), 2, 100000);
    for (double v : x) {
        ASSERT_GE(v, -3.0);
        ASSERT_LT(v, 7.0);
    }
    EXPECT_NEAR(mean_of(x), 2.0, 0.05);  // SE 10/sqrt(12e5) ~ 0.009
}

TEST(Sampler, BetaIsMappedOntoItsInterval) {
    const std::vector<double> x = sample(make(Family::Beta, {4, 1.5}, 60, 95), 2, 100000);
    for (double v : x) {
        ASSERT_GE(v, 60.0);
        ASSERT_LE(v, 95.0);
    }
    // 60 + 35 * alpha / (alpha + beta); sd of beta(4,1.5) ~ 0.174, SE ~ 0.019.
    EXPECT_NEAR(mean_of(x), 60 + 35 * 4 / 5.5, 0.1);
}

TEST(Sampler, PlainFamiliesHaveTheRightMoments) {
    const std::vector<double> n = sample(make(Family::Normal, {10, 3}), 4, 100000);
    EXPECT_NEAR(mean_of(n), 10.0, 0.05);
    EXPECT_NEAR(std::sqrt(variance_of(n)), 3.0, 0.05);

    const std::vector<double> g = sample(make(Family::Gamma, {2, 15}), 4, 100000);
    EXPECT_NEAR(mean_of(g), 30.0, 0.35);  // SE ~ 0.067
    EXPECT_GT(*std::min_element(g.begin(), g.end()), 0.0);

    const std::vector<double> e = sample(make(Family::Exponential, {0.1}), 4, 100000);
    EXPECT_NEAR(mean_of(e), 10.0, 0.16);  // SE ~ 0.032

    const std::vector<double> l = sample(make(Family::Lognormal, {4.5, 0.4}), 4, 100000);
    EXPECT_NEAR(mean_of(l), std::exp(4.5 + 0.08), 0.7);  // SE ~ 0.12
}

}  // namespace
}  // namespace normalize::core
