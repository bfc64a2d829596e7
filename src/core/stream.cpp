#include "stream.hpp"

namespace normalize::core {

std::uint64_t hash_text(std::string_view text) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ static_cast<std::uint64_t>(text.size()));
}

std::uint64_t stream_seed(std::int64_t seed, std::string_view kind,
                          std::string_view key,
                          std::string_view purpose) noexcept {
    // Chained rather than XORed together, so that swapping kind and purpose
    // (or key and kind) names a different stream.
    std::uint64_t s = mix64(static_cast<std::uint64_t>(seed));
    s = mix64(s ^ hash_text(kind));
    s = mix64(s ^ hash_text(key));
    s = mix64(s ^ hash_text(purpose));
    return s;
}

Engine make_engine(std::int64_t seed, std::string_view kind,
                   std::string_view key, std::string_view purpose) noexcept {
    return Engine(stream_seed(seed, kind, key, purpose));
}

}  // namespace normalize::core
