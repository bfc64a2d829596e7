#include "bernoulli.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace normalize::core {

Bernoulli::Bernoulli(double p) noexcept : threshold_(0), never_(p == 0) {
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    const double bound = p * static_cast<double>(kMax);  // the product Boost compares with
    if (!(bound < 0x1p64)) {
        threshold_ = kMax;
        return;
    }
    if (bound < 0x1p53) {  // every word up to 2^53 converts exactly
        threshold_ = static_cast<std::uint64_t>(bound);
        return;
    }
    // From 2^53 up, doubles are integers some power of two apart. A word
    // converts to bound when it lies within half that spacing above it; a
    // word exactly halfway goes to the neighbour whose last mantissa bit is
    // even, so it passes only when bound's is.
    const double spacing = std::nextafter(bound, 0x1p64) - bound;
    std::uint64_t bits;
    std::memcpy(&bits, &bound, sizeof bits);
    threshold_ = static_cast<std::uint64_t>(bound) + static_cast<std::uint64_t>(spacing / 2) - (bits & 1);
}

}  // namespace normalize::core
