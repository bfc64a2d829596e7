// The feature engine against a direct recomputation of each window from the
// series (the definition, not the running sums), on series with unknown
// periods, for every aggregation; and its argument errors.
#include "test_helpers.hpp"

#include "core/feature_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

namespace normalize::core {
namespace {

using test::expect_argument_error;
using Series = std::vector<std::optional<double>>;

// An engine in a buffer the test owns.
struct Engine {
    std::vector<double> buffer;  // doubles: aligned for the engine's arrays
    FeatureEngine engine;

    Engine(const std::vector<FeatureSpec>& specs, int metrics) {
        const std::size_t bytes = FeatureEngine::buffer_size(specs.data(), static_cast<int>(specs.size()), metrics);
        buffer.resize(bytes / sizeof(double) + 1);
        engine.init(buffer.data(), specs.data(), static_cast<int>(specs.size()), metrics);
    }
};

// The feature at period p (0-based) of one series, straight from its
// definition.
std::optional<double> direct(const Series& x, std::size_t p, Aggregation a, int n) {
    if (a == Aggregation::Last) return x[p];
    if (a == Aggregation::Change || a == Aggregation::PctChange || a == Aggregation::GrowthRate) {
        if (p < static_cast<std::size_t>(n) || !x[p] || !x[p - n]) return std::nullopt;
        const double now = *x[p], then = *x[p - n];
        if (a == Aggregation::Change) return now - then;
        if (a == Aggregation::PctChange) return then == 0 ? std::nullopt : std::optional<double>((now - then) / std::fabs(then));
        if (now <= 0 || then <= 0) return std::nullopt;
        return std::pow(now / then, 1.0 / n) - 1;
    }
    if (p + 1 < static_cast<std::size_t>(n)) return std::nullopt;
    std::vector<double> w;
    for (std::size_t i = p + 1 - n; i <= p; ++i) {
        if (!x[i]) return std::nullopt;
        w.push_back(*x[i]);
    }
    double mean = 0;
    for (double v : w) mean += v;
    const double sum = mean;
    mean /= n;
    switch (a) {
    case Aggregation::Mean: return mean;
    case Aggregation::Sum: return sum;
    case Aggregation::Min: return *std::min_element(w.begin(), w.end());
    case Aggregation::Max: return *std::max_element(w.begin(), w.end());
    case Aggregation::Stddev: {
        double ss = 0;
        for (double v : w) ss += (v - mean) * (v - mean);
        return std::sqrt(ss / (n - 1));
    }
    case Aggregation::Slope: {
        const double tm = (n - 1) / 2.0;
        double num = 0, den = 0;
        for (int i = 0; i < n; ++i) {
            num += (i - tm) * (w[i] - mean);
            den += (i - tm) * (i - tm);
        }
        return num / den;
    }
    default: return std::nullopt;
    }
}

Series random_series(std::mt19937_64& rng, std::size_t length, double unknown_share) {
    std::uniform_real_distribution<double> value(-50, 150), coin(0, 1);
    Series x(length);
    for (auto& v : x)
        if (coin(rng) >= unknown_share) v = value(rng);
    return x;
}

const Aggregation kAll[] = {Aggregation::Last, Aggregation::Mean,   Aggregation::Sum,
                            Aggregation::Min,  Aggregation::Max,    Aggregation::Stddev,
                            Aggregation::Slope, Aggregation::Change, Aggregation::PctChange,
                            Aggregation::GrowthRate};

// Every aggregation over windows 2, 3, 7 and 30 of two metrics, for three
// entities one after another (the second with unknown periods, the third
// shorter than the windows), each period checked.
TEST(FeatureEngine, MatchesTheDefinitionOnEveryPeriod) {
    std::vector<FeatureSpec> specs;
    for (int m = 0; m < 2; ++m)
        for (Aggregation a : kAll)
            for (int n : {2, 3, 7, 30})
                if (a != Aggregation::Last || n == 2) specs.push_back({m, a, a == Aggregation::Last ? 0 : n});
    Engine e(specs, 2);
    std::mt19937_64 rng(7);
    const double shares[] = {0.0, 0.05, 0.0};
    const std::size_t lengths[] = {400, 400, 20};
    std::vector<FeatureValue> out(specs.size());
    int checked = 0;
    for (int entity = 0; entity < 3; ++entity) {
        const Series xs[2] = {random_series(rng, lengths[entity], shares[entity]),
                              random_series(rng, lengths[entity], shares[entity])};
        e.engine.start_entity();
        for (std::size_t p = 0; p < lengths[entity]; ++p) {
            const double values[2] = {xs[0][p].value_or(0), xs[1][p].value_or(0)};
            const bool known[2] = {xs[0][p].has_value(), xs[1][p].has_value()};
            e.engine.add_period(values, known);
            e.engine.compute(out.data());
            for (std::size_t f = 0; f < specs.size(); ++f) {
                const auto want = direct(xs[specs[f].metric], p, specs[f].aggregation, specs[f].window);
                ASSERT_EQ(out[f].known, want.has_value()) << "entity " << entity << " period " << p << " feature " << f;
                if (want) {
                    // Differences of running sums lose what rounding left
                    // in the sums, which grow as t^2 * |x| for the t * x sum.
                    const double t = static_cast<double>(p + 1);
                    ASSERT_NEAR(out[f].value, *want, 1e-9 * std::max(1.0, std::fabs(*want)) + 1e-14 * t * t * 150)
                        << "entity " << entity << " period " << p << " feature " << f;
                    ++checked;
                }
            }
        }
    }
    EXPECT_GT(checked, 40000);
}

// One unknown period blanks every window that covers it, and only those.
TEST(FeatureEngine, AnUnknownPeriodBlanksTheWindowsThatCoverIt) {
    const std::vector<FeatureSpec> specs = {{0, Aggregation::Mean, 3}, {0, Aggregation::Min, 3},
                                            {0, Aggregation::Change, 3}};
    Engine e(specs, 1);
    std::vector<FeatureValue> out(3);
    std::vector<bool> mean_known, change_known;
    for (int p = 0; p < 10; ++p) {
        const double v = p;
        const bool k = p != 4;
        e.engine.add_period(&v, &k);
        e.engine.compute(out.data());
        mean_known.push_back(out[0].known);
        EXPECT_EQ(out[0].known, out[1].known);
        change_known.push_back(out[2].known);
    }
    EXPECT_EQ(mean_known, (std::vector<bool>{false, false, true, true, false, false, false, true, true, true}));
    EXPECT_EQ(change_known, (std::vector<bool>{false, false, false, true, false, true, true, false, true, true}));
}

// The views add a window's values from its first one: -0.0 stays -0.0.
TEST(FeatureEngine, ASumStartsAtItsFirstValue) {
    const std::vector<FeatureSpec> specs = {{0, Aggregation::Sum, 2}};
    Engine e(specs, 1);
    const bool k = true;
    const double z = -0.0;
    FeatureValue out;
    e.engine.add_period(&z, &k);
    e.engine.add_period(&z, &k);
    e.engine.compute(&out);
    ASSERT_TRUE(out.known);
    EXPECT_TRUE(std::signbit(out.value));
}

TEST(FeatureEngine, RefusesSpecsItCannotCompute) {
    const FeatureSpec bad_metric[] = {{2, Aggregation::Mean, 3}};
    expect_argument_error([&] { validate_feature_specs(bad_metric, 1, 2); }, {"feature 1", "metric 2"});
    const FeatureSpec short_window[] = {{0, Aggregation::Mean, 3}, {0, Aggregation::Slope, 1}};
    expect_argument_error([&] { validate_feature_specs(short_window, 2, 1); }, {"feature 2", "window 1"});
    const FeatureSpec last_with_window[] = {{0, Aggregation::Last, 3}};
    expect_argument_error([&] { validate_feature_specs(last_with_window, 1, 1); }, {"window 3"});
    expect_argument_error([&] { parse_aggregation("median"); }, {"median"});
    EXPECT_EQ(parse_aggregation("pct_change"), Aggregation::PctChange);
}

}  // namespace
}  // namespace normalize::core
