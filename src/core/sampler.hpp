// Draws from a Distribution with a stream's engine, Boost.Random for every
// draw. A Sampler is plain data: the glue may keep one across calls into
// Postgres (between chunks of a set-returning function).
#pragma once
#include "cpp_only.hpp"

#include "distribution.hpp"
#include "stream.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace normalize::core {

struct Sampler {
    Engine engine;
    Distribution dist;
};

static_assert(std::is_trivially_destructible<Sampler>::value,
              "a Sampler must be safe to abandon on a longjmp");

// The largest n a set-returning generator accepts: past this a call is a
// mistake (it would run for hours), not a request.
constexpr std::int64_t kMaxCount = 10000000000LL;

void check_count(std::int64_t n);

double draw(Sampler& sampler);
void fill(Sampler& sampler, double* out, std::size_t n);

// One value for one key: the first draw of stream (seed, kind, key, purpose).
double draw_for(const Distribution& dist, std::int64_t seed, std::string_view kind,
                std::string_view key, std::string_view purpose);

// The stream a set-returning generator of `dist` uses for `seed`: kind
// "series", key "", purpose the family's name. So random_sample('normal', ...)
// and random_normal(...) give the same values for the same seed.
Engine series_engine(const Distribution& dist, std::int64_t seed);

}  // namespace normalize::core
