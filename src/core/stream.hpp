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
// "\0" differ and short keys still spread over all 64 bits. Inline and
// constexpr so that the purposes, which are literals, hash at compile time.
constexpr std::uint64_t hash_text(std::string_view text) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ static_cast<std::uint64_t>(text.size()));
}

// The 64-bit seed of the stream (seed, kind, key, purpose).
std::uint64_t stream_seed(std::int64_t seed, std::string_view kind,
                          std::string_view key,
                          std::string_view purpose) noexcept;

Engine make_engine(std::int64_t seed, std::string_view kind,
                   std::string_view key, std::string_view purpose) noexcept;

// The streams of one entity, (seed, kind, key, *): the key is hashed once
// rather than once per purpose, which a simulator that opens several
// streams per entity would otherwise repeat for each.
// streams.engine(purpose) is make_engine(seed, kind, key, purpose).
class EntityStreams {
public:
    // Chained rather than XORed together, so that swapping kind and purpose
    // (or key and kind) names a different stream.
    EntityStreams(std::int64_t seed, std::string_view kind, std::string_view key) noexcept
        : prefix_(mix64(mix64(mix64(static_cast<std::uint64_t>(seed)) ^ hash_text(kind)) ^ hash_text(key))) {}

    std::uint64_t seed(std::string_view purpose) const noexcept { return mix64(prefix_ ^ hash_text(purpose)); }
    Engine engine(std::string_view purpose) const noexcept { return Engine(seed(purpose)); }

private:
    std::uint64_t prefix_;
};

}  // namespace normalize::core
