#include "distribution.hpp"

#include "errors.hpp"
#include "math_policy.hpp"

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/poisson.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace normalize::core {

namespace {

namespace bm = boost::math;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct FamilyInfo {
    Family family;
    const char* name;
    std::size_t nparams;
    const char* params[kMaxParams];
    const char* param_hints[kMaxParams];
};

const FamilyInfo kFamilies[] = {
    {Family::Normal, "normal", 2, {"mean", "sd"},
     {"Pass the mean as a finite number.",
      "Pass a standard deviation greater than zero, such as 15."}},
    {Family::Lognormal, "lognormal", 2, {"mu", "sigma"},
     {"Pass mu, the mean of the logarithm, as a finite number.",
      "Pass sigma, the standard deviation of the logarithm, such as 0.4."}},
    {Family::Beta, "beta", 2, {"alpha", "beta"},
     {"Pass a shape parameter greater than zero, such as 4.",
      "Pass a shape parameter greater than zero, such as 1.5."}},
    {Family::Gamma, "gamma", 2, {"shape", "scale"},
     {"Pass a shape greater than zero, such as 2.",
      "Pass a scale greater than zero, such as 15."}},
    {Family::Exponential, "exponential", 1, {"rate", nullptr},
     {"Pass a rate greater than zero, such as 0.1.", nullptr}},
    {Family::Uniform, "uniform", 0, {nullptr, nullptr}, {nullptr, nullptr}},
    {Family::Poisson, "poisson", 1, {"lambda", nullptr},
     {"Pass a mean greater than zero and at most 1e10, such as 3.", nullptr}},
    {Family::Bernoulli, "bernoulli", 1, {"p", nullptr},
     {"Pass a probability between 0 and 1, such as 0.2.", nullptr}},
};

const FamilyInfo& info(Family family) {
    for (const auto& f : kFamilies)
        if (f.family == family)
            return f;
    throw std::logic_error("unhandled distribution family");
}

// Calls fn with the Boost.Math distribution of d's family (unrestricted).
template <typename Fn>
double with_boost_distribution(const Distribution& d, Fn&& fn) {
    switch (d.family) {
    case Family::Normal:
        return fn(bm::normal_distribution<double, MathPolicy>(d.param[0], d.param[1]));
    case Family::Lognormal:
        return fn(bm::lognormal_distribution<double, MathPolicy>(d.param[0], d.param[1]));
    case Family::Beta:
        return fn(bm::beta_distribution<double, MathPolicy>(d.param[0], d.param[1]));
    case Family::Gamma:
        return fn(bm::gamma_distribution<double, MathPolicy>(d.param[0], d.param[1]));
    case Family::Exponential:
        return fn(bm::exponential_distribution<double, MathPolicy>(d.param[0]));
    case Family::Poisson:
        return fn(bm::poisson_distribution<double, MathPolicy>(d.param[0]));
    default:
        throw std::logic_error("no Boost.Math distribution for family");
    }
}

// with_boost_distribution, for the named function of d at `at`.
// Boost.Math gives up on some arguments (an evaluation_error: a series or a
// root finding that does not converge); validation refuses the parameters
// where that was measured (kMaxShape), and this names the distribution and
// the argument if it happens anyway (or a rounding_error does).
RangeError unevaluated(const Distribution& d, const char* function, double at, const std::exception& e) {
    return RangeError("the " + std::string(function) + " of " + describe_family(d) + " at " + format_number(at) +
                          " cannot be evaluated in double precision",
                      "Use parameters of a more moderate size.", e.what());
}

template <typename Fn>
double with_math(const Distribution& d, const char* function, double at, Fn&& fn) {
    try {
        return with_boost_distribution(d, fn);
    } catch (const bm::evaluation_error& e) {
        throw unevaluated(d, function, at, e);
    } catch (const bm::rounding_error& e) {  // an integer conversion inside that does not fit
        throw unevaluated(d, function, at, e);
    }
}

double support_lower(Family family) {
    return family == Family::Normal ? -kInf : 0.0;
}

// F and S of the unrestricted distribution, total on the extended reals.
double base_cdf(const Distribution& d, double x) {
    if (x <= support_lower(d.family))
        return 0.0;
    if (x == kInf)
        return 1.0;
    return with_math(d, "CDF", x, [x](const auto& m) { return bm::cdf(m, x); });
}

double base_sf(const Distribution& d, double x) {
    if (x <= support_lower(d.family))
        return 1.0;
    if (x == kInf)
        return 0.0;
    return with_math(d, "survival function", x, [x](const auto& m) { return bm::cdf(bm::complement(m, x)); });
}

void require_finite(const char* name, double value, const char* hint) {
    if (!std::isfinite(value))
        throw ArgumentError(std::string(name) + " must be a finite number, got " +
                                format_number(value),
                            hint);
}

void require_positive(const char* name, double value, const char* hint) {
    require_finite(name, value, hint);
    if (value <= 0)
        throw ArgumentError(std::string(name) + " must be positive, got " +
                                format_number(value),
                            hint);
}

// See kMaxShape.
void require_shape_at_most_max(const char* name, double value, const char* hint) {
    if (value > kMaxShape)
        throw ArgumentError(std::string(name) + " must be at most 1e10, got " + format_number(value), hint);
}

constexpr const char* kGammaShapeHint =
    "Boost.Math cannot evaluate the CDF of a larger shape; a normal distribution with the same mean "
    "and variance is indistinguishable from such a gamma.";
constexpr const char* kBetaShapeHint =
    "Boost.Math cannot evaluate the CDF of larger shapes; dividing alpha and beta by the same number "
    "keeps the mean.";

void check_params(Family family, const double* p) {
    const FamilyInfo& f = info(family);
    switch (family) {
    case Family::Normal:
    case Family::Lognormal:
        require_finite(f.params[0], p[0], f.param_hints[0]);
        require_positive(f.params[1], p[1], f.param_hints[1]);
        break;
    case Family::Beta:
        require_positive(f.params[0], p[0], f.param_hints[0]);
        require_positive(f.params[1], p[1], f.param_hints[1]);
        // Boost draws beta as X / (X + Y) from two gamma draws; below this
        // shape both underflow to 0 now and then and the draw is 0/0.
        for (int i = 0; i < 2; ++i)
            if (p[i] < kMinBetaShape)
                throw ArgumentError(std::string(f.params[i]) + " must be at least " +
                                        format_number(kMinBetaShape) + ", got " +
                                        format_number(p[i]),
                                    "Smaller shapes put nearly all the mass within rounding "
                                    "distance of 0 and 1, which double precision cannot draw.");
        require_shape_at_most_max(f.params[0], p[0], kBetaShapeHint);
        require_shape_at_most_max(f.params[1], p[1], kBetaShapeHint);
        break;
    case Family::Gamma:
        require_positive(f.params[0], p[0], f.param_hints[0]);
        require_positive(f.params[1], p[1], f.param_hints[1]);
        require_shape_at_most_max(f.params[0], p[0], kGammaShapeHint);
        break;
    case Family::Exponential:
        require_positive(f.params[0], p[0], f.param_hints[0]);
        break;
    case Family::Poisson:
        require_positive(f.params[0], p[0], f.param_hints[0]);
        if (p[0] > kMaxShape)
            throw ArgumentError("lambda must be at most 1e10, got " + format_number(p[0]),
                                f.param_hints[0]);
        break;
    case Family::Bernoulli:
        require_finite(f.params[0], p[0], f.param_hints[0]);
        if (p[0] < 0 || p[0] > 1)
            throw ArgumentError("p must be between 0 and 1, got " + format_number(p[0]),
                                f.param_hints[0]);
        break;
    case Family::Uniform:
        break;
    }
}

void check_range(Family family, double lower, double upper) {
    const char* hint = "Pass lower < upper, or leave both out for no bound.";
    if (std::isnan(lower))
        throw ArgumentError("lower must not be NaN", hint);
    if (std::isnan(upper))
        throw ArgumentError("upper must not be NaN", hint);
    if (is_discrete(family)) {
        if (lower != -kInf || upper != kInf)
            throw ArgumentError(std::string("the ") + family_name(family) +
                                    " family takes no lower or upper bound",
                                "Filter the values instead of bounding a discrete family.");
        return;
    }
    if (family == Family::Beta || family == Family::Uniform) {
        const char* what = family == Family::Beta
                               ? "the interval that beta's [0, 1] is mapped onto"
                               : "the support of the uniform distribution";
        if (!std::isfinite(lower) || !std::isfinite(upper))
            throw ArgumentError(std::string("lower and upper must be finite for the ") +
                                    family_name(family) + " family, got lower = " +
                                    format_number(lower) + " and upper = " +
                                    format_number(upper),
                                std::string("They give ") + what + ", such as 0 and 100.");
        if (lower < upper && !std::isfinite(upper - lower))
            throw ArgumentError("the range [" + format_number(lower) + ", " +
                                    format_number(upper) + "] is too wide",
                                "upper - lower must be a finite double; narrow the range.");
    }
    if (!(lower < upper))
        throw ArgumentError("lower must be less than upper, got lower = " +
                                format_number(lower) + " and upper = " +
                                format_number(upper),
                            hint);
}

}  // namespace

double restricted_cdf(const Distribution& d, double x);

Family parse_family(std::string_view name) {
    // Case and surrounding blanks are not significant: 'Normal ' is normal.
    std::string key;
    for (char c : name)
        if (c != ' ' && c != '\t')
            key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& f : kFamilies)
        if (key == f.name)
            return f.family;
    throw ArgumentError("unknown distribution family \"" + std::string(name) + "\"",
                        "Use one of: " + family_list() + ".");
}

const char* family_name(Family family) { return info(family).name; }

bool is_discrete(Family family) {
    return family == Family::Poisson || family == Family::Bernoulli;
}

std::vector<std::string> parameter_names(Family family) {
    const FamilyInfo& f = info(family);
    return std::vector<std::string>(f.params, f.params + f.nparams);
}

std::size_t parameter_count(Family family) { return info(family).nparams; }

const char* parameter_name(Family family, std::size_t index) {
    const FamilyInfo& f = info(family);
    if (index >= f.nparams)
        throw std::out_of_range("parameter index out of range");
    return f.params[index];
}

std::string family_list() {
    std::string out;
    for (const auto& f : kFamilies) {
        if (!out.empty())
            out += ", ";
        out += f.name;
    }
    return out;
}

Distribution make_distribution(Family family, const double* params,
                               std::size_t nparams, double lower, double upper) {
    const FamilyInfo& f = info(family);
    if (nparams != f.nparams) {
        std::string names;
        for (std::size_t i = 0; i < f.nparams; ++i)
            names += (i ? ", " : "") + std::string(f.params[i]);
        throw ArgumentError("params must hold " + std::to_string(f.nparams) +
                                " value" + (f.nparams == 1 ? "" : "s") + " for the " +
                                f.name + " family, got " + std::to_string(nparams),
                            f.nparams == 0 ? std::string("Pass an empty array: the range is "
                                                         "given by lower and upper.")
                                           : "Pass ARRAY[" + names + "].");
    }
    Distribution d;
    d.family = family;
    for (std::size_t i = 0; i < nparams; ++i)
        d.param[i] = params[i];
    check_params(family, d.param);
    if ((family == Family::Beta || family == Family::Uniform) && lower == -kInf &&
        upper == kInf) {
        lower = 0.0;
        upper = 1.0;
    }
    check_range(family, lower, upper);
    if (family == Family::Lognormal && upper == kInf &&
        !(d.param[0] + kLognormalTailSigmas * d.param[1] <= kMaxLogValue))
        throw ArgumentError("mu + " + format_number(kLognormalTailSigmas) +
                                " * sigma must be at most " + format_number(kMaxLogValue) +
                                " when upper is unbounded, got " +
                                format_number(d.param[0] + kLognormalTailSigmas * d.param[1]),
                            "exp(mu + sigma * z) would overflow double precision; "
                            "lower mu or sigma, or give a finite upper bound.");
    d.lower = lower;
    d.upper = upper;
    if (family == Family::Beta || family == Family::Uniform || is_discrete(family))
        return d;

    const double lo = std::max(lower, support_lower(family));
    const double hi = upper;
    if (lo == support_lower(family) && hi == kInf)
        return d;  // no effective truncation
    const double f_lo = base_cdf(d, lo);
    d.upper_tail = f_lo > 0.5;
    if (d.upper_tail) {
        d.at_lower = base_sf(d, lo);
        d.at_upper = base_sf(d, hi);
        d.mass = d.at_lower - d.at_upper;
    } else {
        d.at_lower = f_lo;
        d.at_upper = base_cdf(d, hi);
        d.mass = d.at_upper - d.at_lower;
    }
    if (!(d.mass >= kMinRangeMass)) {
        char mass[32];
        std::snprintf(mass, sizeof mass, "%.3g", d.mass);
        throw ArgumentError("the range [" + format_number(lower) + ", " +
                                format_number(upper) +
                                "] holds almost no probability mass",
                            "Widen the range or move it towards the bulk of the distribution.",
                            "Under " + describe_family(d) + " the range has probability " + mass +
                                "; at least 1e-09 is needed.");
    }
    if (d.mass >= kRejectionMass)
        d.method = Method::Reject;
    else
        d.method = d.upper_tail ? Method::InverseUpper : Method::Inverse;
    return d;
}

double base_quantile(const Distribution& d, double u, bool upper_tail) {
    if (upper_tail)
        return with_math(d, "upper quantile", u, [u](const auto& m) { return bm::quantile(bm::complement(m, u)); });
    return with_math(d, "quantile", u, [u](const auto& m) { return bm::quantile(m, u); });
}

double cdf(const Distribution& d, double x) {
    const double p = restricted_cdf(d, x);
    if (std::isnan(p))
        throw RangeError("the CDF of " + describe(d) + " at " + format_number(x) +
                             " cannot be computed in double precision",
                         "Use parameters of a more moderate size.");
    return p;
}

double restricted_cdf(const Distribution& d, double x) {
    if (std::isnan(x))
        throw ArgumentError("x must not be NaN", "Pass a number or an infinity.");
    switch (d.family) {
    case Family::Uniform:
        if (x <= d.lower)
            return 0.0;
        if (x >= d.upper)
            return 1.0;
        return (x - d.lower) / (d.upper - d.lower);
    case Family::Beta: {
        if (x <= d.lower)
            return 0.0;
        if (x >= d.upper)
            return 1.0;
        const double t = (x - d.lower) / (d.upper - d.lower);
        return with_math(d, "CDF", x, [t](const auto& m) { return bm::cdf(m, t); });
    }
    case Family::Poisson: {
        if (x < 0)
            return 0.0;
        if (x == kInf)
            return 1.0;
        const double k = std::floor(x);
        return with_math(d, "CDF", x, [k](const auto& m) { return bm::cdf(m, k); });
    }
    case Family::Bernoulli:
        return x < 0 ? 0.0 : (x < 1 ? 1.0 - d.param[0] : 1.0);
    default:
        break;
    }
    if (d.method == Method::Plain)
        return base_cdf(d, x);
    if (x < d.lower)
        return 0.0;
    if (x >= d.upper)
        return 1.0;
    double g;
    if (d.upper_tail)
        g = (d.at_lower - base_sf(d, x)) / d.mass;
    else
        g = (base_cdf(d, x) - d.at_lower) / d.mass;
    return std::min(1.0, std::max(0.0, g));
}

std::string describe_family(const Distribution& d) {
    const FamilyInfo& f = info(d.family);
    std::string out = f.name;
    out += "(";
    for (std::size_t i = 0; i < f.nparams; ++i)
        out += (i ? ", " : "") + std::string(f.params[i]) + "=" + format_number(d.param[i]);
    return out + ")";
}

std::string describe(const Distribution& d) {
    std::string out = describe_family(d);
    if (d.family == Family::Beta || d.family == Family::Uniform || d.method != Method::Plain)
        out += " on [" + format_number(d.lower) + ", " + format_number(d.upper) + "]";
    return out;
}

}  // namespace normalize::core
