// Deterministic random streams. A stream is named by (seed, kind, key,
// purpose) and nothing else, so a value never depends on row order, on which
// worker computes it, or on how the input was split. See "Random streams" in
// README.md for the algorithm; golden values in test/unit pin it.
#pragma once
#include "cpp_only.hpp"

#include "engine.hpp"

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace normalize::core {

using Engine = Xoshiro256;

// The glue keeps engines in frames that Postgres may longjmp out of.
static_assert(std::is_trivially_destructible<Engine>::value,
              "the engine must be safe to abandon on a longjmp");

// SplitMix64's finaliser: a bijection on 64-bit words with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// FNV-1a over the bytes, then the length and a final mix, so that "" and
// "\0" differ and short keys still spread over all 64 bits.
std::uint64_t hash_text(std::string_view text) noexcept;

// The 64-bit seed of the stream (seed, kind, key, purpose).
std::uint64_t stream_seed(std::int64_t seed, std::string_view kind,
                          std::string_view key,
                          std::string_view purpose) noexcept;

Engine make_engine(std::int64_t seed, std::string_view kind,
                   std::string_view key, std::string_view purpose) noexcept;

}  // namespace normalize::core
