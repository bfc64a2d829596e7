// Helpers shared by the core unit tests. Header-only and test-only.
#pragma once

#include "core/distribution.hpp"
#include "core/errors.hpp"
#include "core/sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace normalize::core::test {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.141592653589793238462643383279502884;

// make_distribution with the parameters as a braced list.
inline Distribution make(Family family, std::initializer_list<double> params,
                         double lower = -kInf, double upper = kInf) {
    const std::vector<double> p(params);
    return make_distribution(family, p.data(), p.size(), lower, upper);
}

// n draws of the series stream of `dist` for `seed`.
inline std::vector<double> sample(const Distribution& dist, std::int64_t seed,
                                  std::size_t n) {
    Sampler s{series_engine(dist, seed), dist};
    std::vector<double> out(n);
    fill(s, out.data(), n);
    return out;
}

// Runs fn, which must throw ArgumentError; checks that the message contains
// every one of `parts` and that the hint is not empty. Returns the error so
// callers can look at the detail.
inline ArgumentError expect_argument_error(const std::function<void()>& fn,
                                           std::initializer_list<std::string> parts) {
    try {
        fn();
    } catch (const ArgumentError& e) {
        const std::string message = e.what();
        for (const auto& part : parts)
            EXPECT_NE(message.find(part), std::string::npos)
                << "message \"" << message << "\" lacks \"" << part << "\"";
        EXPECT_FALSE(e.hint().empty()) << "no hint for \"" << message << "\"";
        return e;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected ArgumentError, got another exception: " << e.what();
        return ArgumentError("", "");
    }
    ADD_FAILURE() << "expected ArgumentError, nothing was thrown";
    return ArgumentError("", "");
}

inline double mean_of(const std::vector<double>& v) {
    double sum = 0;
    for (double x : v)
        sum += x;
    return sum / static_cast<double>(v.size());
}

inline double variance_of(const std::vector<double>& v) {
    const double m = mean_of(v);
    double sum = 0;
    for (double x : v)
        sum += (x - m) * (x - m);
    return sum / static_cast<double>(v.size() - 1);
}

// Closed forms for the standard normal, independent of Boost.Math.
inline double std_normal_pdf(double x) {
    return std::exp(-0.5 * x * x) / std::sqrt(2.0 * kPi);
}
inline double std_normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace normalize::core::test
