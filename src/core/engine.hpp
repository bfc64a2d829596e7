// The bit source of every stream: xoshiro256** (Blackman and Vigna, 2018),
// seeded from the stream's 64-bit seed with SplitMix64 as its authors
// recommend. Every value is still drawn by a Boost.Random distribution; the
// engine only supplies uniform 64-bit words.
//
// Why not boost::random::mt19937_64: a keyed value is the first draw of a
// fresh stream, and Mersenne Twister spends ~700 ns seeding and twisting its
// 312-word state before the first output, against ~5 ns here. xoshiro256**
// passes BigCrush and PractRand, has period 2^256 - 1, and its 32-byte state
// is plain data, safe to abandon on a longjmp.
#pragma once
#include "cpp_only.hpp"

#include <cstdint>
#include <limits>

namespace normalize::core {

class Xoshiro256 {
public:
    using result_type = std::uint64_t;

    explicit Xoshiro256(std::uint64_t seed) noexcept {
        // SplitMix64 steps: never gives the all-zero state xoshiro must avoid
        // (four consecutive outputs of a bijection of distinct inputs).
        for (auto& word : s_) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            word = z ^ (z >> 31);
        }
    }

    // For tests against the reference implementation's published outputs.
    static Xoshiro256 from_state(std::uint64_t a, std::uint64_t b, std::uint64_t c,
                                 std::uint64_t d) noexcept {
        Xoshiro256 e(0);
        e.s_[0] = a;
        e.s_[1] = b;
        e.s_[2] = c;
        e.s_[3] = d;
        return e;
    }

    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept {
        return std::numeric_limits<result_type>::max();
    }

    result_type operator()() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    friend bool operator==(const Xoshiro256& a, const Xoshiro256& b) noexcept {
        return a.s_[0] == b.s_[0] && a.s_[1] == b.s_[1] && a.s_[2] == b.s_[2] &&
               a.s_[3] == b.s_[3];
    }
    friend bool operator!=(const Xoshiro256& a, const Xoshiro256& b) noexcept {
        return !(a == b);
    }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << k) | (x >> (64 - k));
    }
    std::uint64_t s_[4];
};

}  // namespace normalize::core
