// A validated distribution: family, parameters and the range it is
// restricted to. Plain data (no heap, trivially destructible) so that the
// glue can keep it in frames Postgres may longjmp out of.
//
// For every continuous family except beta and uniform, [lower, upper] is a
// truncation: the distribution conditioned on the range. For beta it is the
// interval that [0, 1] is mapped onto; for uniform it is the support.
// Discrete families (poisson, bernoulli) take no range.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace normalize::core {

enum class Family {
    Normal,
    Lognormal,
    Beta,
    Gamma,
    Exponential,
    Uniform,
    Poisson,
    Bernoulli
};

constexpr std::size_t kMaxParams = 2;

// How a truncated range is sampled. Rejection keeps Boost.Random's own
// algorithm for the family and is exact; it is used while the range holds
// enough mass that few draws are wasted. Below that, inverse-CDF sampling on
// the lower tail (Inverse) or, when the range lies in the upper tail, on the
// survival function (InverseUpper), where the CDF would round to 1.
enum class Method { Plain, Reject, Inverse, InverseUpper };

struct Distribution {
    Family family = Family::Normal;
    double param[kMaxParams] = {0, 0};
    double lower = 0;  // as given (beta/uniform: the mapped interval)
    double upper = 0;
    Method method = Method::Plain;
    // For truncated families: F or S at the bounds, clipped to the support,
    // and the mass the range holds.
    double at_lower = 0;
    double at_upper = 0;
    double mass = 1;
    bool upper_tail = false;  // at_lower/at_upper hold S, not F
};

static_assert(std::is_trivially_destructible<Distribution>::value,
              "Distribution must be plain data");

// Below this share of mass the range is refused: sampling it would mean
// inverting a CDF at values that round to the bound, i.e. a hidden clamp.
constexpr double kMinRangeMass = 1e-9;
// At or above this share of mass, truncation is done by rejection.
constexpr double kRejectionMass = 0.3;
// Smallest beta shape: see check_params.
constexpr double kMinBetaShape = 0.05;
// Largest shape (gamma's shape, beta's alpha and beta) and Poisson mean.
// Boost 1.74's incomplete gamma function gives up ("Series evaluation
// exceeded 1000000 iterations") from about 2.09e10, where x is the shape or
// the mean, and with it the gamma CDF and quantile and the Poisson CDF; the
// incomplete beta takes a second per value from shapes of about 1e20 and is
// NaN at 1e300. Measured with x over the whole double range and around the
// mean, and quantiles from p = 1e-300 to 1 - 1e-3 (test/unit pins it).
constexpr double kMaxShape = 1e10;
// An untruncated lognormal must keep exp(mu + kLognormalTailSigmas * sigma)
// finite: Boost's ziggurat cannot return |z| above about 17 from 64 bits.
constexpr double kLognormalTailSigmas = 20;
constexpr double kMaxLogValue = 709;

Family parse_family(std::string_view name);
const char* family_name(Family family);
bool is_discrete(Family family);
// The SQL names of the family's parameters, in the order params[] takes them.
std::vector<std::string> parameter_names(Family family);
std::size_t parameter_count(Family family);
// Static storage: safe to hold across calls into the host.
const char* parameter_name(Family family, std::size_t index);
std::string family_list();

// Validates and prepares. lower/upper may be infinite (no bound); for beta
// and uniform they must be finite, except that both infinite means [0, 1]. Throws ArgumentError naming the argument.
Distribution make_distribution(Family family, const double* params,
                               std::size_t nparams, double lower,
                               double upper);

// Quantile of the unrestricted continuous family at u, read on the CDF, or
// on the survival function when upper_tail is set.
double base_quantile(const Distribution& d, double u, bool upper_tail);

// CDF of the distribution as restricted (truncated, or mapped for beta).
double cdf(const Distribution& d, double x);

// "normal(mean=0, sd=1) on [-1, 1]", for messages; describe_family leaves
// out the range.
std::string describe(const Distribution& d);
std::string describe_family(const Distribution& d);

}  // namespace normalize::core
