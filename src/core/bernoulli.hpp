// A Bernoulli draw that compares the engine's 64-bit word with a threshold
// worked out once, instead of converting every word to a double as
// boost::random::bernoulli_distribution does. It gives the same answers for
// every word, so it can stand in for that distribution without changing a
// single draw: Boost answers true when double(word) <= p * double(2^64 - 1),
// and since rounding to double never decreases as the word grows, the words
// that pass are exactly those up to the largest one that does.
#pragma once
#include "cpp_only.hpp"

#include "engine.hpp"

#include <cstdint>

namespace normalize::core {

class Bernoulli {
public:
    // p in [0, 1]. As in Boost, p == 0 answers false without drawing.
    explicit Bernoulli(double p) noexcept;

    bool operator()(Xoshiro256& engine) const noexcept { return !never_ && engine() <= threshold_; }

    std::uint64_t threshold() const noexcept { return threshold_; }

private:
    std::uint64_t threshold_;
    bool never_;
};

}  // namespace normalize::core
