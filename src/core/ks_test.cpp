#include "ks_test.hpp"

#include <boost/math/constants/constants.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace normalize::core {

double kolmogorov_sf(double lambda) {
    if (!(lambda > 0))
        return 1.0;
    const double pi = boost::math::constants::pi<double>();
    if (lambda < 1.18) {
        // Jacobi's dual series converges fast for small lambda, where the
        // alternating one would need hundreds of terms.
        double sum = 0;
        for (int k = 1; k <= 20; ++k) {
            const double j = 2.0 * k - 1.0;
            sum += std::exp(-j * j * pi * pi / (8.0 * lambda * lambda));
        }
        return std::clamp(1.0 - std::sqrt(2.0 * pi) / lambda * sum, 0.0, 1.0);
    }
    double sum = 0;
    double sign = 1;
    for (int k = 1; k <= 100; ++k) {
        const double term = std::exp(-2.0 * k * k * lambda * lambda);
        sum += sign * term;
        if (term < 1e-17)
            break;
        sign = -sign;
    }
    return std::clamp(2.0 * sum, 0.0, 1.0);
}

double ks_p_value(double statistic, std::int64_t n) {
    const double en = std::sqrt(static_cast<double>(n));
    return kolmogorov_sf((en + 0.12 + 0.11 / en) * statistic);
}

KsResult ks_test(double* values, std::size_t n, const Distribution& dist,
                 InterruptCheck check) {
    if (is_discrete(dist.family))
        throw ArgumentError(std::string("ks_test needs a continuous family, got ") +
                                family_name(dist.family),
                            "The Kolmogorov-Smirnov test assumes a continuous "
                            "distribution; compare the counts of a discrete one instead.");
    if (n == 0)
        throw ArgumentError("ks_test needs at least one value",
                            "Run it over a non-empty set of values.");
    for (std::size_t i = 0; i < n; ++i)
        if (std::isnan(values[i]))
            throw ArgumentError("ks_test got a NaN value",
                                "Filter out NaN values before testing.");
    std::sort(values, values + n);
    const double count = static_cast<double>(n);
    double d = 0;
    // Walk blocks of equal values. A continuous sample has ties only where
    // rounding merged distinct draws (beta near 1, say): the empirical CDF
    // jumps by the block's size there, and the CDF's left limit, not its
    // value, is what the jump starts from.
    for (std::size_t i = 0, polled = 0; i < n;) {
        std::size_t j = i + 1;
        while (j < n && values[j] == values[i])
            ++j;
        // A CDF costs up to about 1.5 ms (gamma and Poisson near kMaxShape),
        // so the poll comes every few hundred values, not every 65536.
        if (i - polled >= 256 || i == 0) {
            poll_interrupt(check);
            polled = i;
        }
        const double f = cdf(dist, values[i]);
        const double f_left =
            j - i > 1 ? cdf(dist, std::nextafter(values[i], -HUGE_VAL)) : f;
        d = std::max({d, j / count - f, f_left - i / count});
        i = j;
    }
    return KsResult{d, static_cast<std::int64_t>(n), ks_p_value(d, static_cast<std::int64_t>(n))};
}

}  // namespace normalize::core
