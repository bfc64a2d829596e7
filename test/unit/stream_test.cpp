// Random streams: a stream is named by (seed, kind, key, purpose) and by
// nothing else, and different names give different streams.
#include "core/stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace normalize::core {
namespace {

TEST(Stream, Mix64IsSplitMix64) {
    // The first output of SplitMix64 from state 0 is the finaliser applied to
    // 0 (the constant is added inside mix64): 0xe220a8397b1dcdaf, the published
    // reference value.
    EXPECT_EQ(mix64(0), 0xe220a8397b1dcdafULL);
    static_assert(mix64(0) == 0xe220a8397b1dcdafULL, "mix64 must stay constexpr");
}

TEST(Stream, Mix64HasNoCollisionsOnASample) {
    std::vector<std::uint64_t> out;
    out.reserve(100001);
    for (std::uint64_t z = 0; z <= 100000; ++z)
        out.push_back(mix64(z));
    std::sort(out.begin(), out.end());
    EXPECT_EQ(std::adjacent_find(out.begin(), out.end()), out.end());
}

TEST(Stream, HashTextDistinguishesEmptyFromNul) {
    const std::string_view empty("", 0);
    const std::string_view nul("\0", 1);
    ASSERT_EQ(nul.size(), 1u);
    EXPECT_NE(hash_text(empty), hash_text(nul));
    EXPECT_NE(hash_text(nul), hash_text(std::string_view("\0\0", 2)));
    EXPECT_NE(stream_seed(42, "series", empty, "normal"),
              stream_seed(42, "series", nul, "normal"));
}

TEST(Stream, HashTextSpreadsShortKeysOverTheHighBits) {
    // Keys "0".."999" must differ in the top 16 bits too, not only in the low
    // bits that raw FNV-1a would change. 1000 random values in 65536 buckets
    // collide about 8 times.
    std::set<std::uint64_t> full;
    std::set<std::uint64_t> top16;
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t h = hash_text(std::to_string(i));
        full.insert(h);
        top16.insert(h >> 48);
    }
    EXPECT_EQ(full.size(), 1000u);
    EXPECT_GE(top16.size(), 975u);
}

TEST(Stream, StreamSeedIsDeterministic) {
    EXPECT_EQ(stream_seed(42, "account", "acct-001", "mrr"),
              stream_seed(42, "account", std::string("acct-001"), "mrr"));
    EXPECT_EQ(stream_seed(-7, "", "", ""), stream_seed(-7, "", "", ""));
}

TEST(Stream, StreamSeedChangesWithEachComponent) {
    const std::uint64_t base = stream_seed(42, "account", "acct-001", "mrr");
    EXPECT_NE(base, stream_seed(43, "account", "acct-001", "mrr"));
    EXPECT_NE(base, stream_seed(-42, "account", "acct-001", "mrr"));
    EXPECT_NE(base, stream_seed(42, "device", "acct-001", "mrr"));
    EXPECT_NE(base, stream_seed(42, "account", "acct-002", "mrr"));
    EXPECT_NE(base, stream_seed(42, "account", "acct-001", "health"));
    // Seeds that differ only in the sign bit or the lowest bit.
    EXPECT_NE(stream_seed(0, "a", "b", "c"), stream_seed(1, "a", "b", "c"));
    EXPECT_NE(stream_seed(std::numeric_limits<std::int64_t>::min(), "a", "b", "c"),
              stream_seed(0, "a", "b", "c"));
}

TEST(Stream, StreamSeedIsOrderSensitive) {
    // Swapping kind and purpose, or key and kind, names another stream.
    EXPECT_NE(stream_seed(42, "account", "k", "mrr"), stream_seed(42, "mrr", "k", "account"));
    EXPECT_NE(stream_seed(42, "account", "k", "mrr"), stream_seed(42, "k", "account", "mrr"));
    // Moving characters across the component boundary is not the same stream
    // either: components are hashed separately, not concatenated.
    EXPECT_NE(stream_seed(42, "ab", "c", "d"), stream_seed(42, "a", "bc", "d"));
    EXPECT_NE(stream_seed(42, "a", "", "b"), stream_seed(42, "", "a", "b"));
}

TEST(Stream, EnginesFromTheSameNameAreIdentical) {
    Engine a = make_engine(42, "account", "acct-001", "mrr");
    Engine b = make_engine(42, "account", "acct-001", "mrr");
    Engine c(stream_seed(42, "account", "acct-001", "mrr"));
    for (int i = 0; i < 1000; ++i) {
        const auto x = a();
        ASSERT_EQ(x, b()) << "at draw " << i;
        ASSERT_EQ(x, c()) << "at draw " << i;
    }
}

TEST(Stream, EnginesFromDifferentNamesDiffer) {
    Engine a = make_engine(42, "account", "acct-001", "mrr");
    Engine b = make_engine(42, "account", "acct-002", "mrr");
    int same = 0;
    for (int i = 0; i < 100; ++i)
        same += a() == b();
    EXPECT_EQ(same, 0);
}

TEST(Stream, EngineIsTheReferenceXoshiro256StarStar) {
    // The first outputs of the reference C implementation from state
    // {1, 2, 3, 4}: an independent check of the algorithm, not of our code
    // against itself.
    Xoshiro256 e = Xoshiro256::from_state(1, 2, 3, 4);
    EXPECT_EQ(e(), 11520ULL);
    EXPECT_EQ(e(), 0ULL);
    EXPECT_EQ(e(), 1509978240ULL);
    EXPECT_EQ(e(), 1215971899390074240ULL);
}

TEST(Stream, EngineIsSeededBySplitMix64) {
    // SplitMix64's published outputs for seed 0 fill the state.
    EXPECT_EQ(Xoshiro256(0), Xoshiro256::from_state(0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL,
                                                    0x06c45d188009454fULL, 0xf88bb8a8724c81ecULL));
    EXPECT_NE(Xoshiro256(0), Xoshiro256(1));
}

TEST(Stream, EngineMeetsTheUniformRandomBitGeneratorContract) {
    static_assert(Engine::min() == 0, "full 64-bit range");
    static_assert(Engine::max() == ~0ULL, "full 64-bit range");
    // Bits are balanced: over 4096 words each of the 64 bit positions is set
    // close to half the time (binomial sd 32; 6 sd either side).
    Engine e = make_engine(1, "test", "bits", "balance");
    int ones[64] = {};
    for (int i = 0; i < 4096; ++i) {
        const std::uint64_t w = e();
        for (int b = 0; b < 64; ++b)
            ones[b] += (w >> b) & 1;
    }
    for (int b = 0; b < 64; ++b)
        EXPECT_NEAR(ones[b], 2048, 192) << "bit " << b;
}

}  // namespace
}  // namespace normalize::core
