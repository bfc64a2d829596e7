// The threshold Bernoulli answers exactly as boost::random's
// bernoulli_distribution for every 64-bit word, so the simulators that use
// it draw what they drew with Boost's.
#include "core/bernoulli.hpp"
#include "core/stream.hpp"

#include <gtest/gtest.h>

#include <boost/random/bernoulli_distribution.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace normalize::core {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Boost's test for one word, written out: RealType(word - min) <= p * RealType(max - min).
bool boost_passes(std::uint64_t word, double p) {
    return p != 0 && static_cast<double>(word) <= p * static_cast<double>(kMax);
}

std::vector<double> probabilities() {
    return {0.0, 1e-300, 1e-17, 1e-9, 0.015, 0.04, 0.1, 1.0 / 3, 0.5, 0.6, 0.9, 0.999999999, 1.0};
}

TEST(Bernoulli, ThresholdIsTheLastWordBoostAccepts) {
    for (double p : probabilities()) {
        if (p == 0)
            continue;
        const std::uint64_t t = Bernoulli(p).threshold();
        EXPECT_TRUE(boost_passes(t, p)) << "p = " << p;
        if (t != kMax) {
            EXPECT_FALSE(boost_passes(t + 1, p)) << "p = " << p;
        }
    }
}

TEST(Bernoulli, ThresholdHoldsForManyProbabilities) {
    Engine e = make_engine(1, "test", "bernoulli", "probabilities");
    for (int i = 0; i < 200000; ++i) {
        // Uniform on [0, 1] and spread over magnitudes down to 2^-64.
        const double u = static_cast<double>(e() >> 11) * 0x1p-53;
        const double p = i % 2 ? u : std::ldexp(u, -static_cast<int>(e() % 64));
        const std::uint64_t t = Bernoulli(p).threshold();
        if (p == 0)
            continue;
        ASSERT_TRUE(boost_passes(t, p)) << "p = " << p;
        if (t != kMax) {
            ASSERT_FALSE(boost_passes(t + 1, p)) << "p = " << p;
        }
    }
}

TEST(Bernoulli, AgreesWithBoostOnWordsAroundTheThreshold) {
    for (double p : probabilities()) {
        const Bernoulli mine(p);
        const std::uint64_t t = mine.threshold();
        for (std::uint64_t d = 0; d < 5000; ++d) {
            for (std::uint64_t word : {t - d, t + d}) {
                Xoshiro256 fixed = Xoshiro256::from_state(0, 0, 0, 0);  // never asked: p = 0
                const bool answer = p == 0 ? mine(fixed) : word <= t;
                ASSERT_EQ(answer, boost_passes(word, p)) << "p = " << p << ", word = " << word;
            }
        }
    }
}

TEST(Bernoulli, DrawsWhatBoostDrawsFromTheSameStream) {
    for (double p : probabilities()) {
        Engine a = make_engine(3, "test", "bernoulli", "draws");
        Engine b = make_engine(3, "test", "bernoulli", "draws");
        const Bernoulli mine(p);
        const boost::random::bernoulli_distribution<double> theirs(p);
        for (int i = 0; i < 20000; ++i)
            ASSERT_EQ(mine(a), theirs(b)) << "p = " << p << ", draw " << i;
        EXPECT_EQ(a(), b()) << "both consumed the same number of words, p = " << p;
    }
}

TEST(EntityStreams, OpensTheStreamsMakeEngineOpens) {
    const EntityStreams account(42, "account", "acct-001");
    for (const char* purpose : {"activity", "churn", "", "latent_health"}) {
        Engine a = account.engine(purpose);
        Engine b = make_engine(42, "account", "acct-001", purpose);
        EXPECT_EQ(account.seed(purpose), stream_seed(42, "account", "acct-001", purpose));
        for (int i = 0; i < 100; ++i)
            ASSERT_EQ(a(), b()) << purpose;
    }
}

}  // namespace
}  // namespace normalize::core
