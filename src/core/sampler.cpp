#include "sampler.hpp"

#include "errors.hpp"

#include <boost/random/bernoulli_distribution.hpp>
#include <boost/random/beta_distribution.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/lognormal_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace normalize::core {

namespace {

namespace br = boost::random;

// Bounds on retries. With at least kRejectionMass of the mass in range, the
// chance of 10,000 misses in a row is below 1e-1500: the bound exists so that
// no input can hang a backend, not because it is ever reached.
constexpr int kMaxRejections = 10000;
constexpr int kMaxInverseRetries = 100;

double raw_draw(const Distribution& d, Engine& e) {
    switch (d.family) {
    case Family::Normal:
        return br::normal_distribution<double>(d.param[0], d.param[1])(e);
    case Family::Lognormal:
        return br::lognormal_distribution<double>(d.param[0], d.param[1])(e);
    case Family::Gamma:
        return br::gamma_distribution<double>(d.param[0], d.param[1])(e);
    case Family::Exponential:
        return br::exponential_distribution<double>(d.param[0])(e);
    default:
        throw std::logic_error("raw_draw called for a family without truncation");
    }
}

double truncated_draw(const Distribution& d, Engine& e) {
    switch (d.method) {
    case Method::Plain:
        return raw_draw(d, e);
    case Method::Reject:
        for (int i = 0; i < kMaxRejections; ++i) {
            const double x = raw_draw(d, e);
            if (x >= d.lower && x <= d.upper)
                return x;
        }
        break;
    case Method::Inverse:
    case Method::InverseUpper: {
        const double lo = std::min(d.at_lower, d.at_upper);
        const double hi = std::max(d.at_lower, d.at_upper);
        br::uniform_real_distribution<double> u01(lo, hi);
        for (int i = 0; i < kMaxInverseRetries; ++i) {
            const double u = u01(e);
            if (u <= 0.0 || u >= 1.0)
                continue;
            const double x = base_quantile(d, u, d.upper_tail);
            if (x >= d.lower && x <= d.upper)
                return x;
        }
        break;
    }
    }
    throw RangeError("could not draw a value inside [" + format_number(d.lower) + ", " +
                         format_number(d.upper) + "] from " + describe(d),
                     "Widen the range or move it towards the bulk of the distribution.");
}

}  // namespace

double draw_unchecked(Sampler& s);

void check_count(std::int64_t n) {
    if (n < 0 || n > kMaxCount)
        throw ArgumentError("n must be between 0 and " + std::to_string(kMaxCount) +
                                ", got " + std::to_string(n),
                            "Ask for the number of values to generate, such as 1000.");
}

double draw(Sampler& s) {
    const double x = draw_unchecked(s);
    // Validation rules out the parameters that overflow; this is the
    // backstop, so that no NaN or infinity ever reaches a table.
    if (!std::isfinite(x))
        throw RangeError("drawing from " + describe(s.dist) + " gave " + format_number(x) +
                             ", which is out of the range of double precision",
                         "Use parameters of a more moderate size.");
    return x;
}

double draw_unchecked(Sampler& s) {
    const Distribution& d = s.dist;
    switch (d.family) {
    case Family::Uniform:
        return br::uniform_real_distribution<double>(d.lower, d.upper)(s.engine);
    case Family::Beta: {
        const double b = br::beta_distribution<double>(d.param[0], d.param[1])(s.engine);
        return d.lower + (d.upper - d.lower) * b;
    }
    case Family::Poisson:
        return static_cast<double>(
            br::poisson_distribution<std::int64_t, double>(d.param[0])(s.engine));
    case Family::Bernoulli:
        return br::bernoulli_distribution<double>(d.param[0])(s.engine) ? 1.0 : 0.0;
    default:
        return truncated_draw(d, s.engine);
    }
}

void fill(Sampler& s, double* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        out[i] = draw(s);
}

double draw_for(const Distribution& dist, std::int64_t seed, std::string_view kind,
                std::string_view key, std::string_view purpose) {
    Sampler s{make_engine(seed, kind, key, purpose), dist};
    return draw(s);
}

Engine series_engine(const Distribution& dist, std::int64_t seed) {
    return make_engine(seed, "series", "", family_name(dist.family));
}

}  // namespace normalize::core
