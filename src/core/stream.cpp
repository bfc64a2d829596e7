#include "stream.hpp"

namespace normalize::core {

std::uint64_t stream_seed(std::int64_t seed, std::string_view kind,
                          std::string_view key,
                          std::string_view purpose) noexcept {
    return EntityStreams(seed, kind, key).seed(purpose);
}

Engine make_engine(std::int64_t seed, std::string_view kind,
                   std::string_view key, std::string_view purpose) noexcept {
    return Engine(stream_seed(seed, kind, key, purpose));
}

}  // namespace normalize::core
