// The device history simulator: it ends at the current health, failures
// follow low health, it is deterministic, and it refuses bad input.
#include "core/device_history.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace normalize::core {
namespace {

std::vector<DeviceDay> run(const std::string& key, double health, int days = 365, std::int64_t seed = 1) {
    std::vector<DeviceDay> out(days);
    simulate_device(key, seed, {health, 169, 3}, days, DeviceParams{}, out.data());
    return out;
}

TEST(DeviceHistory, EndsAtTheCurrentHealthWithinRange) {
    for (double h : {5.0, 37.5, 72.5, 99.0}) {
        const auto d = run("dev-" + std::to_string(h), h);
        EXPECT_EQ(d.back().health, h);
        for (const auto& x : d) {
            EXPECT_GE(x.health, 0);
            EXPECT_LE(x.health, 100);
            EXPECT_GE(x.usage, 0);
            EXPECT_LE(x.usage, 1);
            EXPECT_GE(x.errors, 0);
        }
    }
}

TEST(DeviceHistory, FailuresFollowLowHealth) {
    int low = 0, high = 0;
    for (int i = 0; i < 300; ++i) {
        for (const auto& x : run("a" + std::to_string(i), 30, 90))
            low += x.failure;
        for (const auto& x : run("b" + std::to_string(i), 90, 90))
            high += x.failure;
    }
    EXPECT_GT(low, 10 * (high + 1));
}

TEST(DeviceHistory, ServicedTheDayAfterAFailure) {
    int failures = 0;
    for (int i = 0; i < 200; ++i) {
        const auto d = run("c" + std::to_string(i), 35, 120);
        for (std::size_t j = 0; j + 1 < d.size(); ++j)
            if (d[j].failure) {
                ++failures;
                EXPECT_TRUE(d[j + 1].maintenance);
            }
    }
    EXPECT_GT(failures, 0);
}

TEST(DeviceHistory, Deterministic) {
    const auto a = run("same", 60, 200, 9), b = run("same", 60, 200, 9), c = run("same", 60, 200, 10);
    bool differs = false;
    for (std::size_t j = 0; j < a.size(); ++j) {
        EXPECT_EQ(a[j].health, b[j].health);
        EXPECT_EQ(a[j].failure, b[j].failure);
        differs = differs || a[j].temperature != c[j].temperature;
    }
    EXPECT_TRUE(differs);
}

TEST(DeviceHistory, RefusesBadInput) {
    std::vector<DeviceDay> out(10);
    EXPECT_THROW(simulate_device("k", 1, {101, 1, 0}, 10, DeviceParams{}, out.data()), ArgumentError);
    EXPECT_THROW(simulate_device("k", 1, {50, 1, 0}, 0, DeviceParams{}, out.data()), ArgumentError);
    DeviceParams bad;
    bad.failure_rate = 0.5;
    EXPECT_THROW(simulate_device("k", 1, {50, 1, 0}, 10, bad, out.data()), ArgumentError);
}

}  // namespace
}  // namespace normalize::core
