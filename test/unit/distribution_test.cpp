// make_distribution: validation (every error names the argument and the
// value and has a hint), choice of truncation method, metadata, describe()
// and cdf().
#include "test_helpers.hpp"

#include "core/distribution.hpp"
#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

using test::expect_argument_error;
using test::kInf;
using test::kNaN;
using test::make;
using test::std_normal_cdf;

// ---- metadata ---------------------------------------------------------------

TEST(Family, ParseRoundTripsEveryFamily) {
    const Family all[] = {Family::Normal, Family::Lognormal, Family::Beta,    Family::Gamma,
                          Family::Exponential, Family::Uniform, Family::Poisson,
                          Family::Bernoulli};
    for (Family f : all) {
        EXPECT_EQ(parse_family(family_name(f)), f) << family_name(f);
        EXPECT_NE(family_list().find(family_name(f)), std::string::npos) << family_name(f);
        EXPECT_EQ(parameter_names(f).size(), parameter_count(f));
    }
}

TEST(Family, NamesAndParameters) {
    EXPECT_STREQ(family_name(Family::Lognormal), "lognormal");
    EXPECT_EQ(parameter_names(Family::Normal), (std::vector<std::string>{"mean", "sd"}));
    EXPECT_EQ(parameter_names(Family::Lognormal), (std::vector<std::string>{"mu", "sigma"}));
    EXPECT_EQ(parameter_names(Family::Beta), (std::vector<std::string>{"alpha", "beta"}));
    EXPECT_EQ(parameter_names(Family::Gamma), (std::vector<std::string>{"shape", "scale"}));
    EXPECT_EQ(parameter_names(Family::Exponential), (std::vector<std::string>{"rate"}));
    EXPECT_EQ(parameter_names(Family::Poisson), (std::vector<std::string>{"lambda"}));
    EXPECT_EQ(parameter_names(Family::Bernoulli), (std::vector<std::string>{"p"}));
    EXPECT_EQ(parameter_count(Family::Uniform), 0u);
    EXPECT_STREQ(parameter_name(Family::Gamma, 1), "scale");
    EXPECT_THROW(parameter_name(Family::Gamma, 2), std::out_of_range);
    EXPECT_THROW(parameter_name(Family::Uniform, 0), std::out_of_range);
}

TEST(Family, DiscreteFamilies) {
    EXPECT_TRUE(is_discrete(Family::Poisson));
    EXPECT_TRUE(is_discrete(Family::Bernoulli));
    EXPECT_FALSE(is_discrete(Family::Normal));
    EXPECT_FALSE(is_discrete(Family::Uniform));
}

TEST(Family, UnknownFamilyIsAnArgumentError) {
    const ArgumentError e =
        expect_argument_error([] { parse_family("cauchy"); }, {"unknown distribution family",
                                                               "\"cauchy\""});
    // The hint lists what is available.
    EXPECT_NE(e.hint().find("normal"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("bernoulli"), std::string::npos) << e.hint();
    expect_argument_error([] { parse_family(""); }, {"unknown distribution family"});
    // A prefix of a valid name is not a valid name.
    expect_argument_error([] { parse_family("norm"); }, {"\"norm\""});
}

// ---- parameter validation ---------------------------------------------------

struct BadParams {
    Family family;
    std::vector<double> params;
    const char* message;  // must appear in what()
};

std::ostream& operator<<(std::ostream& os, const BadParams& c) {
    return os << family_name(c.family) << " -> " << c.message;
}

class ParameterValidation : public ::testing::TestWithParam<BadParams> {};

TEST_P(ParameterValidation, ThrowsNamingArgumentAndValue) {
    const BadParams& c = GetParam();
    expect_argument_error(
        [&] {
            make_distribution(c.family, c.params.data(), c.params.size(), -kInf, kInf);
        },
        {c.message});
}

INSTANTIATE_TEST_SUITE_P(
    AllFamilies, ParameterValidation,
    ::testing::Values(
        BadParams{Family::Normal, {0, -1}, "sd must be positive, got -1"},
        BadParams{Family::Normal, {0, 0}, "sd must be positive, got 0"},
        BadParams{Family::Normal, {0, kNaN}, "sd must be a finite number, got NaN"},
        BadParams{Family::Normal, {0, kInf}, "sd must be a finite number, got Infinity"},
        BadParams{Family::Normal, {kNaN, 1}, "mean must be a finite number, got NaN"},
        BadParams{Family::Normal, {-kInf, 1}, "mean must be a finite number, got -Infinity"},
        BadParams{Family::Lognormal, {4.5, 0}, "sigma must be positive, got 0"},
        BadParams{Family::Lognormal, {4.5, -0.4}, "sigma must be positive, got -0.4"},
        BadParams{Family::Lognormal, {4.5, kNaN}, "sigma must be a finite number, got NaN"},
        BadParams{Family::Lognormal, {4.5, kInf}, "sigma must be a finite number, got Infinity"},
        BadParams{Family::Lognormal, {kInf, 0.4}, "mu must be a finite number, got Infinity"},
        BadParams{Family::Beta, {0, 1.5}, "alpha must be positive, got 0"},
        BadParams{Family::Beta, {-4, 1.5}, "alpha must be positive, got -4"},
        BadParams{Family::Beta, {kNaN, 1.5}, "alpha must be a finite number, got NaN"},
        BadParams{Family::Beta, {4, -1.5}, "beta must be positive, got -1.5"},
        BadParams{Family::Beta, {4, kInf}, "beta must be a finite number, got Infinity"},
        BadParams{Family::Gamma, {0, 15}, "shape must be positive, got 0"},
        BadParams{Family::Gamma, {-2, 15}, "shape must be positive, got -2"},
        BadParams{Family::Gamma, {kInf, 15}, "shape must be a finite number, got Infinity"},
        BadParams{Family::Gamma, {2, -15}, "scale must be positive, got -15"},
        BadParams{Family::Gamma, {2, kNaN}, "scale must be a finite number, got NaN"},
        BadParams{Family::Exponential, {0}, "rate must be positive, got 0"},
        BadParams{Family::Exponential, {-0.1}, "rate must be positive, got -0.1"},
        BadParams{Family::Exponential, {kNaN}, "rate must be a finite number, got NaN"},
        BadParams{Family::Exponential, {kInf}, "rate must be a finite number, got Infinity"},
        BadParams{Family::Poisson, {0}, "lambda must be positive, got 0"},
        BadParams{Family::Poisson, {-3}, "lambda must be positive, got -3"},
        BadParams{Family::Poisson, {kNaN}, "lambda must be a finite number, got NaN"},
        BadParams{Family::Poisson, {kInf}, "lambda must be a finite number, got Infinity"},
        BadParams{Family::Poisson, {1e16}, "lambda must be at most 1e10, got 1e+16"},
        BadParams{Family::Poisson, {2e10}, "lambda must be at most 1e10, got 20000000000"},
        BadParams{Family::Gamma, {1e12, 1}, "shape must be at most 1e10, got 1000000000000"},
        BadParams{Family::Beta, {2, 1e11}, "beta must be at most 1e10, got 100000000000"},
        BadParams{Family::Beta, {1e300, 1e300}, "alpha must be at most 1e10, got 1e+300"},
        BadParams{Family::Bernoulli, {-0.1}, "p must be between 0 and 1, got -0.1"},
        BadParams{Family::Bernoulli, {1.5}, "p must be between 0 and 1, got 1.5"},
        BadParams{Family::Bernoulli, {kNaN}, "p must be a finite number, got NaN"},
        BadParams{Family::Bernoulli, {-kInf}, "p must be a finite number, got -Infinity"},
        // Wrong number of parameters.
        BadParams{Family::Normal, {0}, "params must hold 2 values for the normal family, got 1"},
        BadParams{Family::Beta, {}, "params must hold 2 values for the beta family, got 0"},
        BadParams{Family::Exponential, {1, 2},
                  "params must hold 1 value for the exponential family, got 2"},
        BadParams{Family::Poisson, {}, "params must hold 1 value for the poisson family, got 0"},
        BadParams{Family::Uniform, {1},
                  "params must hold 0 values for the uniform family, got 1"}));

TEST(ParameterValidation, WrongCountHintShowsTheExpectedArray) {
    const double one[1] = {0};
    const ArgumentError e =
        expect_argument_error([&] { make_distribution(Family::Normal, one, 1, -kInf, kInf); },
                              {"params must hold 2 values"});
    EXPECT_EQ(e.hint(), "Pass ARRAY[mean, sd].");
}

TEST(ParameterValidation, BoundaryValuesAreAccepted) {
    EXPECT_NO_THROW(make(Family::Bernoulli, {0}));
    EXPECT_NO_THROW(make(Family::Bernoulli, {1}));
    EXPECT_NO_THROW(make(Family::Poisson, {1e10}));
    EXPECT_NO_THROW(make(Family::Gamma, {1e10, 1e-3}));
    EXPECT_NO_THROW(make(Family::Beta, {1e10, 1e10}));
    EXPECT_NO_THROW(make(Family::Normal, {-1e300, 1e-300}));
    EXPECT_NO_THROW(make(Family::Gamma, {1e-3, 1e-3}, 0, 1));
}

TEST(ParameterValidation, ErrorsAreInvalidArgument) {
    // The glue maps std::invalid_argument to SQLSTATE 22023.
    EXPECT_THROW(make(Family::Normal, {0, -1}), std::invalid_argument);
}

// ---- range validation -------------------------------------------------------

TEST(RangeValidation, LowerMustBeBelowUpper) {
    expect_argument_error([] { make(Family::Normal, {0, 1}, 2, 1); },
                          {"lower must be less than upper, got lower = 2 and upper = 1"});
    expect_argument_error([] { make(Family::Normal, {0, 1}, 1, 1); },
                          {"lower must be less than upper, got lower = 1 and upper = 1"});
    expect_argument_error([] { make(Family::Uniform, {}, 5, 5); },
                          {"lower must be less than upper, got lower = 5 and upper = 5"});
    expect_argument_error([] { make(Family::Beta, {4, 1.5}, 95, 60); },
                          {"lower must be less than upper, got lower = 95 and upper = 60"});
    expect_argument_error([] { make(Family::Normal, {0, 1}, kInf, kInf); },
                          {"lower must be less than upper", "Infinity"});
}

TEST(RangeValidation, NaNBounds) {
    expect_argument_error([] { make(Family::Normal, {0, 1}, kNaN, 1); }, {"lower must not be NaN"});
    expect_argument_error([] { make(Family::Normal, {0, 1}, 0, kNaN); }, {"upper must not be NaN"});
    expect_argument_error([] { make(Family::Uniform, {}, kNaN, kNaN); }, {"lower must not be NaN"});
    expect_argument_error([] { make(Family::Poisson, {3}, kNaN, kInf); },
                          {"lower must not be NaN"});
}

TEST(RangeValidation, DiscreteFamiliesTakeNoBounds) {
    expect_argument_error([] { make(Family::Poisson, {3}, 0, kInf); },
                          {"the poisson family takes no lower or upper bound"});
    expect_argument_error([] { make(Family::Poisson, {3}, -kInf, 10); },
                          {"the poisson family takes no lower or upper bound"});
    expect_argument_error([] { make(Family::Bernoulli, {0.2}, 0, 1); },
                          {"the bernoulli family takes no lower or upper bound"});
}

TEST(RangeValidation, BetaAndUniformNeedFiniteBounds) {
    expect_argument_error(
        [] { make(Family::Beta, {4, 1.5}, 0, kInf); },
        {"lower and upper must be finite for the beta family, got lower = 0 and upper = Infinity"});
    expect_argument_error([] { make(Family::Uniform, {}, -kInf, 5); },
                          {"lower and upper must be finite for the uniform family, got lower = "
                           "-Infinity and upper = 5"});
    // Infinite in the wrong direction is still an error, not [0, 1].
    expect_argument_error([] { make(Family::Uniform, {}, kInf, -kInf); },
                          {"must be finite for the uniform family"});
}

TEST(RangeValidation, BothInfiniteMeansUnitIntervalForBetaAndUniform) {
    const Distribution u = make(Family::Uniform, {});
    EXPECT_EQ(u.lower, 0.0);
    EXPECT_EQ(u.upper, 1.0);
    const Distribution b = make(Family::Beta, {4, 1.5});
    EXPECT_EQ(b.lower, 0.0);
    EXPECT_EQ(b.upper, 1.0);
    // For a truncating family, both infinite means no bound at all.
    const Distribution n = make(Family::Normal, {0, 1});
    EXPECT_EQ(n.lower, -kInf);
    EXPECT_EQ(n.upper, kInf);
}

TEST(RangeValidation, RangeWithAlmostNoMass) {
    // Upper tail: the survival function is used, so this is caught although
    // the CDF rounds to 1 at both bounds.
    const ArgumentError upper = expect_argument_error(
        [] { make(Family::Normal, {0, 1}, 30, 40); },
        {"the range [30, 40] holds almost no probability mass"});
    EXPECT_NE(upper.detail().find("normal(mean=0, sd=1)"), std::string::npos) << upper.detail();
    EXPECT_NE(upper.detail().find("1e-09"), std::string::npos) << upper.detail();

    expect_argument_error([] { make(Family::Normal, {0, 1}, -40, -30); },
                          {"the range [-40, -30] holds almost no probability mass"});
    // A range outside the support holds no mass at all.
    expect_argument_error([] { make(Family::Exponential, {0.1}, -10, -5); },
                          {"the range [-10, -5] holds almost no probability mass"});
    expect_argument_error([] { make(Family::Lognormal, {4.5, 0.4}, -10, 0); },
                          {"holds almost no probability mass"});
    expect_argument_error([] { make(Family::Gamma, {2, 15}, 5000, kInf); },
                          {"the range [5000, Infinity] holds almost no probability mass"});
}

TEST(RangeValidation, SmallButSufficientMassIsAccepted) {
    // P(6 <= Z <= 6.5) is about 9.4e-10, under 1e-9: refused.
    EXPECT_THROW(make(Family::Normal, {0, 1}, 6, 6.5), ArgumentError);
    // P(5.9 <= Z <= 6.5) is about 1.8e-9: accepted, by inverse sampling.
    const Distribution d = make(Family::Normal, {0, 1}, 5.9, 6.5);
    EXPECT_EQ(d.method, Method::InverseUpper);
    EXPECT_GE(d.mass, kMinRangeMass);
    EXPECT_NEAR(d.mass, 1.777e-9, 0.01e-9);
}

// ---- method selection -------------------------------------------------------

TEST(MethodSelection, NoEffectiveBoundIsPlain) {
    EXPECT_EQ(make(Family::Normal, {0, 1}).method, Method::Plain);
    EXPECT_EQ(make(Family::Lognormal, {4.5, 0.4}).method, Method::Plain);
    // A lower bound at or below the support's is no bound.
    EXPECT_EQ(make(Family::Lognormal, {4.5, 0.4}, -5, kInf).method, Method::Plain);
    EXPECT_EQ(make(Family::Exponential, {0.1}, 0, kInf).method, Method::Plain);
    EXPECT_EQ(make(Family::Gamma, {2, 15}, -1, kInf).method, Method::Plain);
    // Mapped, support-defined and discrete families are never truncated.
    EXPECT_EQ(make(Family::Beta, {4, 1.5}, 60, 95).method, Method::Plain);
    EXPECT_EQ(make(Family::Uniform, {}, 60, 95).method, Method::Plain);
    EXPECT_EQ(make(Family::Poisson, {3}).method, Method::Plain);
    EXPECT_EQ(make(Family::Bernoulli, {0.2}).method, Method::Plain);
}

TEST(MethodSelection, WideRangeIsRejection) {
    const Distribution d = make(Family::Normal, {0, 1}, -1, 1);
    EXPECT_EQ(d.method, Method::Reject);
    EXPECT_NEAR(d.mass, std::erf(1 / std::sqrt(2.0)), 1e-14);
    EXPECT_EQ(make(Family::Normal, {0, 1}, -kInf, 0).method, Method::Reject);
    EXPECT_EQ(make(Family::Lognormal, {4.5, 0.4}, 50, 200).method, Method::Reject);
    EXPECT_EQ(make(Family::Gamma, {2, 15}, 20, 70).method, Method::Reject);
    // Mostly upper tail, but with enough mass: still rejection.
    const Distribution e = make(Family::Exponential, {0.1}, 10, 40);
    EXPECT_EQ(e.method, Method::Reject);
    EXPECT_NEAR(e.mass, std::exp(-1.0) - std::exp(-4.0), 1e-14);
}

TEST(MethodSelection, NarrowLowerTailIsInverse) {
    const Distribution d = make(Family::Normal, {0, 1}, -4, -2.5);
    EXPECT_EQ(d.method, Method::Inverse);
    EXPECT_FALSE(d.upper_tail);
    EXPECT_NEAR(d.mass, std_normal_cdf(-2.5) - std_normal_cdf(-4), 1e-15);
    EXPECT_EQ(make(Family::Normal, {0, 1}, -kInf, -3).method, Method::Inverse);
    EXPECT_EQ(make(Family::Normal, {0, 1}, -0.2, -0.1).method, Method::Inverse);
    EXPECT_EQ(make(Family::Exponential, {0.1}, 0, 1).method, Method::Inverse);
    EXPECT_EQ(make(Family::Lognormal, {4.5, 0.4}, 20, 40).method, Method::Inverse);
}

TEST(MethodSelection, NarrowUpperTailIsInverseUpper) {
    const Distribution d = make(Family::Normal, {0, 1}, 2.5, 4);
    EXPECT_EQ(d.method, Method::InverseUpper);
    EXPECT_TRUE(d.upper_tail);
    EXPECT_NEAR(d.mass, std_normal_cdf(-2.5) - std_normal_cdf(-4), 1e-15);
    EXPECT_EQ(make(Family::Normal, {0, 1}, 3, kInf).method, Method::InverseUpper);
    EXPECT_EQ(make(Family::Normal, {0, 1}, 0.1, 0.2).method, Method::InverseUpper);
    EXPECT_EQ(make(Family::Gamma, {2, 15}, 150, 300).method, Method::InverseUpper);
    EXPECT_EQ(make(Family::Exponential, {0.1}, 50, 80).method, Method::InverseUpper);
}

TEST(MethodSelection, RejectionThresholdIsThirtyPercent) {
    // normal(0,1) on [-a, a] has mass erf(a / sqrt 2); 0.3 is at a ~ 0.385.
    EXPECT_EQ(make(Family::Normal, {0, 1}, -0.39, 0.39).method, Method::Reject);
    EXPECT_EQ(make(Family::Normal, {0, 1}, -0.38, 0.38).method, Method::Inverse);
}

// ---- describe ---------------------------------------------------------------

TEST(Describe, ShowsParametersAndRange) {
    EXPECT_EQ(describe(make(Family::Normal, {0, 1}, -1, 1)), "normal(mean=0, sd=1) on [-1, 1]");
    EXPECT_EQ(describe(make(Family::Normal, {0, 1})), "normal(mean=0, sd=1)");
    EXPECT_EQ(describe(make(Family::Lognormal, {4.5, 0.4}, 50, 200)),
              "lognormal(mu=4.5, sigma=0.4) on [50, 200]");
    EXPECT_EQ(describe(make(Family::Exponential, {0.1}, 10, kInf)),
              "exponential(rate=0.1) on [10, Infinity]");
    EXPECT_EQ(describe(make(Family::Uniform, {})), "uniform() on [0, 1]");
    EXPECT_EQ(describe(make(Family::Beta, {4, 1.5}, 60, 95)),
              "beta(alpha=4, beta=1.5) on [60, 95]");
    EXPECT_EQ(describe(make(Family::Poisson, {3})), "poisson(lambda=3)");
    EXPECT_EQ(describe(make(Family::Bernoulli, {0.2})), "bernoulli(p=0.2)");
    EXPECT_EQ(describe_family(make(Family::Normal, {0, 1}, -1, 1)), "normal(mean=0, sd=1)");
}

// ---- cdf --------------------------------------------------------------------

TEST(Cdf, PlainFamiliesMatchClosedForms) {
    const Distribution n = make(Family::Normal, {0, 1});
    EXPECT_EQ(cdf(n, 0), 0.5);
    EXPECT_NEAR(cdf(n, 1.96), std_normal_cdf(1.96), 1e-15);
    EXPECT_NEAR(cdf(n, -3), std_normal_cdf(-3), 1e-16);
    EXPECT_EQ(cdf(n, -kInf), 0.0);
    EXPECT_EQ(cdf(n, kInf), 1.0);

    const Distribution n2 = make(Family::Normal, {10, 3});
    EXPECT_NEAR(cdf(n2, 13), std_normal_cdf(1), 1e-15);

    const Distribution ln = make(Family::Lognormal, {4.5, 0.4});
    EXPECT_NEAR(cdf(ln, std::exp(4.5)), 0.5, 1e-15);
    EXPECT_NEAR(cdf(ln, std::exp(4.9)), std_normal_cdf(1), 1e-15);
    EXPECT_EQ(cdf(ln, 0), 0.0);
    EXPECT_EQ(cdf(ln, -5), 0.0);

    const Distribution ex = make(Family::Exponential, {0.1});
    EXPECT_NEAR(cdf(ex, 10), 1 - std::exp(-1.0), 1e-15);
    EXPECT_EQ(cdf(ex, -1), 0.0);

    // gamma(1, 15) is exponential with rate 1/15; gamma(2, 15) has
    // F(x) = 1 - (1 + x/15) e^(-x/15).
    EXPECT_NEAR(cdf(make(Family::Gamma, {1, 15}), 15), 1 - std::exp(-1.0), 1e-15);
    EXPECT_NEAR(cdf(make(Family::Gamma, {2, 15}), 30), 1 - 3 * std::exp(-2.0), 1e-15);
}

TEST(Cdf, UniformIsLinearOnItsSupport) {
    const Distribution u = make(Family::Uniform, {}, 2, 6);
    EXPECT_EQ(cdf(u, 3), 0.25);
    EXPECT_EQ(cdf(u, 4), 0.5);
    EXPECT_EQ(cdf(u, 2), 0.0);
    EXPECT_EQ(cdf(u, 6), 1.0);
    EXPECT_EQ(cdf(u, -kInf), 0.0);
    EXPECT_EQ(cdf(u, 100), 1.0);
}

TEST(Cdf, BetaIsMappedOntoItsInterval) {
    EXPECT_NEAR(cdf(make(Family::Beta, {1, 1}, 60, 95), 77.5), 0.5, 1e-15);
    // beta(2, 1): F(t) = t^2; beta(1, 3): F(t) = 1 - (1 - t)^3.
    EXPECT_NEAR(cdf(make(Family::Beta, {2, 1}, 0, 10), 5), 0.25, 1e-15);
    EXPECT_NEAR(cdf(make(Family::Beta, {1, 3}, -2, 2), -1), 1 - std::pow(0.75, 3), 1e-15);
    const Distribution b = make(Family::Beta, {4, 1.5}, 60, 95);
    EXPECT_EQ(cdf(b, 60), 0.0);
    EXPECT_EQ(cdf(b, 95), 1.0);
    EXPECT_EQ(cdf(b, 0), 0.0);
    EXPECT_EQ(cdf(b, 1000), 1.0);
}

TEST(Cdf, DiscreteFamilies) {
    const Distribution p = make(Family::Poisson, {3});
    const double f2 = std::exp(-3.0) * (1 + 3 + 4.5);
    EXPECT_NEAR(cdf(p, 2), f2, 1e-15);
    EXPECT_NEAR(cdf(p, 2.7), f2, 1e-15);  // a step function
    EXPECT_NEAR(cdf(p, 0), std::exp(-3.0), 1e-16);
    EXPECT_EQ(cdf(p, -0.5), 0.0);
    EXPECT_EQ(cdf(p, kInf), 1.0);

    const Distribution b = make(Family::Bernoulli, {0.2});
    EXPECT_EQ(cdf(b, -0.1), 0.0);
    EXPECT_DOUBLE_EQ(cdf(b, 0), 0.8);
    EXPECT_DOUBLE_EQ(cdf(b, 0.5), 0.8);
    EXPECT_EQ(cdf(b, 1), 1.0);
}

TEST(Cdf, TruncatedNormalMatchesClosedForm) {
    const Distribution d = make(Family::Normal, {0, 1}, -1, 1);
    const double mass = std_normal_cdf(1) - std_normal_cdf(-1);
    EXPECT_NEAR(cdf(d, 0), 0.5, 1e-15);
    EXPECT_NEAR(cdf(d, 0.5), (std_normal_cdf(0.5) - std_normal_cdf(-1)) / mass, 1e-14);

    const Distribution low = make(Family::Normal, {0, 1}, -4, -2.5);
    const double low_mass = std_normal_cdf(-2.5) - std_normal_cdf(-4);
    EXPECT_NEAR(cdf(low, -3), (std_normal_cdf(-3) - std_normal_cdf(-4)) / low_mass, 1e-12);

    // By symmetry, the upper-tail range mirrors the lower-tail one.
    const Distribution high = make(Family::Normal, {0, 1}, 2.5, 4);
    EXPECT_NEAR(cdf(high, 3), 1 - cdf(low, -3), 1e-12);
}

struct TruncCase {
    Family family;
    std::vector<double> params;
    double lower, upper;
    Method method;
};

std::ostream& operator<<(std::ostream& os, const TruncCase& c) {
    return os << family_name(c.family) << " on [" << c.lower << ", " << c.upper << "]";
}

class TruncatedCdf : public ::testing::TestWithParam<TruncCase> {};

TEST_P(TruncatedCdf, IsZeroAtLowerOneAtUpperAndMonotone) {
    const TruncCase& c = GetParam();
    const Distribution d =
        make_distribution(c.family, c.params.data(), c.params.size(), c.lower, c.upper);
    ASSERT_EQ(d.method, c.method);
    EXPECT_EQ(cdf(d, c.lower), 0.0);
    EXPECT_EQ(cdf(d, c.upper), 1.0);
    EXPECT_EQ(cdf(d, c.lower - 1), 0.0);
    EXPECT_EQ(cdf(d, c.upper + 1), 1.0);
    EXPECT_EQ(cdf(d, -kInf), 0.0);
    EXPECT_EQ(cdf(d, kInf), 1.0);
    double previous = 0;
    const int steps = 1000;
    for (int i = 0; i <= steps; ++i) {
        const double x = c.lower + (c.upper - c.lower) * i / steps;
        const double f = cdf(d, x);
        ASSERT_GE(f, previous) << "at x = " << x;
        ASSERT_LE(f, 1.0);
        previous = f;
    }
    // Strictly inside, strictly between 0 and 1.
    const double mid = cdf(d, c.lower + (c.upper - c.lower) / 2);
    EXPECT_GT(mid, 0.0);
    EXPECT_LT(mid, 1.0);
}

INSTANTIATE_TEST_SUITE_P(
    Methods, TruncatedCdf,
    ::testing::Values(TruncCase{Family::Normal, {0, 1}, -1, 1, Method::Reject},
                      TruncCase{Family::Normal, {0, 1}, -4, -2.5, Method::Inverse},
                      TruncCase{Family::Normal, {0, 1}, 2.5, 4, Method::InverseUpper},
                      TruncCase{Family::Lognormal, {4.5, 0.4}, 50, 200, Method::Reject},
                      TruncCase{Family::Gamma, {2, 15}, 20, 70, Method::Reject},
                      TruncCase{Family::Gamma, {2, 15}, 150, 300, Method::InverseUpper},
                      TruncCase{Family::Exponential, {0.1}, 10, 40, Method::Reject},
                      TruncCase{Family::Exponential, {0.1}, 0, 1, Method::Inverse}));

TEST(Cdf, NaNIsAnArgumentError) {
    expect_argument_error([] { cdf(make(Family::Normal, {0, 1}), kNaN); }, {"NaN"});
    expect_argument_error([] { cdf(make(Family::Uniform, {}), kNaN); }, {"NaN"});
}

}  // namespace
}  // namespace normalize::core
