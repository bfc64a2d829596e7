#include "account_history.hpp"

#include "bernoulli.hpp"
#include "math_policy.hpp"
#include "stream.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/random/binomial_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <new>
#include <type_traits>
#include <string>

namespace normalize::core {

namespace {

namespace br = boost::random;

// Latent health h ~ N(0, 1) scales the hazard by exp(-w h - w^2 / 2), whose
// mean over h is 1; the quantile nodes below integrate over h.
constexpr int kNodes = 64;

const std::array<double, kNodes>& health_nodes() {
    static const std::array<double, kNodes> nodes = [] {
        std::array<double, kNodes> n{};
        boost::math::normal_distribution<double, MathPolicy> z;
        for (int i = 0; i < kNodes; ++i)
            n[i] = boost::math::quantile(z, (i + 0.5) / kNodes);
        return n;
    }();
    return nodes;
}

double hazard_multiplier(double health, double weight) {
    return std::exp(-weight * health - weight * weight / 2);
}

// The base monthly hazard m for which the share of accounts that churn
// within twelve months, over the spread of latent health, is `annual`.
// Without this, the spread would pull the annual rate below its band
// (1 - (1 - m x)^12 is concave in x).
double solve_base_hazard(double annual, double weight) {
    if (annual <= 0)
        return 0;
    auto annual_rate = [weight](double m) {
        double total = 0;
        for (double h : health_nodes()) {
            const double p = std::min(0.95, m * hazard_multiplier(h, weight));
            total += 1 - std::pow(1 - p, 12);
        }
        return total / kNodes;
    };
    double lo = 0, hi = 0.95;
    for (int i = 0; i < 60; ++i) {
        const double mid = (lo + hi) / 2;
        (annual_rate(mid) < annual ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
}

// solve_base_hazard on a grid of annual rates, interpolated: the solve
// costs thousands of pow() calls, and every account needs four. The grid
// is rebuilt only when the weight changes.
double monthly_base_hazard(double annual, double weight) {
    constexpr int kGrid = 400;
    static double cached_weight = -1;
    static std::array<double, kGrid + 1> grid;
    if (weight != cached_weight) {
        for (int i = 0; i <= kGrid; ++i)
            grid[i] = solve_base_hazard(0.99 * i / kGrid, weight);
        cached_weight = weight;
    }
    const double x = std::clamp(annual, 0.0, 0.99) / 0.99 * kGrid;
    const int i = std::min(kGrid - 1, static_cast<int>(x));
    return grid[i] + (x - i) * (grid[i + 1] - grid[i]);
}

// cos(2 pi (m - 12) / 12) for calendar month m: the yearly cycle, peaking
// in December, computed once rather than for every simulated month.
const std::array<double, 13>& yearly_cycle() {
    static const std::array<double, 13> cycle = [] {
        std::array<double, 13> c{};
        const double pi = boost::math::constants::pi<double>();
        for (int m = 1; m <= 12; ++m)
            c[m] = std::cos(2 * pi * (m - 12) / 12.0);
        return c;
    }();
    return cycle;
}

// The distributions of a month's active users and support tickets depend
// on the account only through its seats. Setting one up costs a pow or an
// exp, and an account's seats take few values over its history, so they are
// kept per seat count. (A draw from a kept distribution is the draw a new
// one would give: neither keeps state between draws.)
struct SeatDraws {
    br::binomial_distribution<int, double> active_users;
    br::poisson_distribution<int, double> tickets;
};

class SeatDrawCache {
public:
    SeatDrawCache() { std::fill(std::begin(seats_), std::end(seats_), 0); }

    const SeatDraws& get(int seats, double engaged, double ticket_scale) {
        const unsigned slot = static_cast<unsigned>(seats) % kSlots;
        if (seats_[slot] != seats) {
            const double ticket_rate = (0.2 + 0.15 * std::sqrt(static_cast<double>(seats))) * ticket_scale;
            new (draws_[slot]) SeatDraws{br::binomial_distribution<int, double>(seats, engaged),
                                         br::poisson_distribution<int, double>(ticket_rate)};
            seats_[slot] = seats;
        }
        return *std::launder(reinterpret_cast<const SeatDraws*>(draws_[slot]));
    }

private:
    static constexpr int kSlots = 32;
    // Only the seat counts are cleared for each account; a slot's
    // distributions are written when first used (clearing them all would
    // touch dozens of cache lines per account for nothing).
    int seats_[kSlots];  // 0: empty (an account has at least one seat)
    alignas(SeatDraws) unsigned char draws_[kSlots][sizeof(SeatDraws)];
};
static_assert(std::is_trivially_destructible<SeatDraws>::value, "slots are overwritten in place");

int calendar_month(int as_of_month, int months_back) {
    return ((as_of_month - 1 - months_back) % 12 + 12) % 12 + 1;
}

// The message is built only on failure: check_history runs once per
// account, and formatting numbers for messages never shown cost more than
// the simulation.
template <typename Message>
void require(bool ok, Message&& message, const char* hint) {
    if (!ok)
        throw ArgumentError(message(), hint);
}

}  // namespace

const char* account_event_name(AccountEvent event) {
    switch (event) {
    case AccountEvent::Signup:
        return "signup";
    case AccountEvent::Upgrade:
        return "upgrade";
    case AccountEvent::Downgrade:
        return "downgrade";
    case AccountEvent::Churn:
        return "churn";
    default:
        return nullptr;
    }
}

void check_history(const AccountInput& input, int months, const HistoryParams& params) {
    require(input.tier >= 1 && input.tier <= kTiers,
            [&] { return "tier must be between 1 and 4, got " + std::to_string(input.tier); },
            "Pass the account's current tier, such as 'Tier 4'.");
    require(std::isfinite(input.mrr) && input.mrr > 0,
            [&] { return "mrr must be a positive number, got " + format_number(input.mrr); },
            "Pass the account's current monthly revenue; run repair_values first if it is 0.");
    require(input.mrr <= kMaxMrr, [&] { return "mrr must be at most 1e9, got " + format_number(input.mrr); },
            "A larger monthly revenue overflows the seats simulated from it.");
    require(months >= 1 && months <= kMaxHistoryMonths,
            [&] {
                return "months must be between 1 and " + std::to_string(kMaxHistoryMonths) + ", got " +
                       std::to_string(months);
            },
            "Ask for the length of the history in months, such as 24.");
    require(input.as_of_month >= 1 && input.as_of_month <= 12,
            [] { return std::string("as_of_month must be 1..12"); }, "Pass a calendar month.");
    for (int k = 0; k < kTiers; ++k) {
        const TierProfile& t = params.tiers[k];
        require(std::isfinite(t.mrr_mu),
                [&] { return "the MRR profile of Tier " + std::to_string(k + 1) + " has no finite mu"; },
                "Check the mrr_tier_<n> rows of normalize.distribution_profiles.");
        require(t.churn_low >= 0 && t.churn_low <= t.churn_high && t.churn_high < 1,
                [&] {
                    return "the annual churn band of Tier " + std::to_string(k + 1) + " must lie in [0, 1), got [" +
                           format_number(t.churn_low) + ", " + format_number(t.churn_high) + "]";
                },
                "Check the churn_annual_tier_<n> rows of normalize.distribution_profiles.");
    }
    auto finite_in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
    require(finite_in(params.growth, -0.5, 0.5),
            [&] { return "growth must be between -0.5 and 0.5, got " + format_number(params.growth); },
            "Pass the mean monthly revenue growth, such as 0.01.");
    require(finite_in(params.seasonality, 0, 0.5),
            [&] { return "seasonality must be between 0 and 0.5, got " + format_number(params.seasonality); },
            "Pass the amplitude of the yearly cycle, such as 0.03.");
}

std::size_t simulate_account(std::string_view key, std::int64_t seed, const AccountInput& input,
                             int months, const HistoryParams& params, AccountMonth* out) {
    check_history(input, months, params);
    const std::array<double, 13>& cycle = yearly_cycle();
    const EntityStreams streams(seed, "account", key);

    // Per-account quantities, each from its own stream.
    const double health = [&] {
        Engine e = streams.engine("latent_health");
        return br::normal_distribution<double>(0, 1)(e);
    }();
    int since_signup = input.months_since_signup;
    if (since_signup < 0) {
        Engine e = streams.engine("signup");
        since_signup = br::uniform_int_distribution<int>(0, 2 * months)(e);
    }
    const double band_quantile = [&] {
        Engine e = streams.engine("churn_rate");
        return br::uniform_real_distribution<double>(0, 1)(e);
    }();
    const bool signup_in_window = since_signup <= months - 1;
    const int first = signup_in_window ? months - 1 - since_signup : 0;

    // Tier and revenue, backward from now.
    Engine path = streams.engine("tier_path");
    Engine revenue = streams.engine("revenue");
    br::uniform_real_distribution<double> unit(0, 1);
    br::normal_distribution<double> standard(0, 1);
    for (int t = months - 1; t >= first; --t) {
        AccountMonth& m = out[t - first];
        m.month = t;
        m.event = AccountEvent::None;
        m.churned = false;
        if (t == months - 1) {
            m.tier = input.tier;
            m.mrr = input.mrr;
        }
        if (t == first)
            break;
        AccountMonth& before = out[t - 1 - first];
        const double u = unit(path);
        before.tier = m.tier;
        if (u < params.upgrade && m.tier < kTiers) {
            before.tier = m.tier + 1;  // a lower tier before, an upgrade now
            m.event = AccountEvent::Upgrade;
        } else if (u > 1 - params.downgrade && m.tier > 1) {
            before.tier = m.tier - 1;
            m.event = AccountEvent::Downgrade;
        }
        const int cal = calendar_month(input.as_of_month, months - 1 - t);
        const double g = 1 + params.growth + params.seasonality * cycle[cal] +
                         params.noise * standard(revenue);
        before.mrr = m.mrr / std::max(0.5, g);
        if (before.tier != m.tier)
            before.mrr *= std::exp(params.tiers[before.tier - 1].mrr_mu - params.tiers[m.tier - 1].mrr_mu);
        if (!(before.mrr <= kMaxPathMrr))
            throw ArgumentError("growth " + format_number(params.growth) + " over " + std::to_string(months) +
                                    " months takes the revenue of account " + std::string(key) +
                                    " above 1e10 a month before as_of",
                                "Walked back from the current revenue, a falling one rises: pass a growth nearer 0, "
                                "or fewer months.");
    }
    if (signup_in_window)
        out[0].event = AccountEvent::Signup;

    // What the data shows, and churn, forward from signup.
    Engine activity = streams.engine("activity");
    Engine churn = streams.engine("churn");
    const double engaged = 1 / (1 + std::exp(-(0.8 + 1.5 * health)));
    const double trouble = std::exp(-1.2 * health);
    const double ticket_scale = std::exp(-0.9 * health);
    const Bernoulli late(std::min(0.9, 0.04 * trouble));
    const Bernoulli failed(std::min(0.9, 0.015 * trouble));
    double base_hazard[kTiers];
    for (int k = 0; k < kTiers; ++k) {
        const TierProfile& t = params.tiers[k];
        base_hazard[k] = monthly_base_hazard(t.churn_low + band_quantile * (t.churn_high - t.churn_low),
                                             params.risk_weight);
    }
    const double multiplier = hazard_multiplier(health, params.risk_weight);
    SeatDrawCache seat_draws;
    const std::size_t count = static_cast<std::size_t>(months - first);
    for (std::size_t i = 0; i < count; ++i) {
        AccountMonth& m = out[i];
        // No churn in the signup month: an account is there for at least one.
        // (Churn and activity draw from separate streams, so deciding churn
        // first leaves the activity draws as they are.)
        const double hazard = std::min(0.95, base_hazard[m.tier - 1] * multiplier);
        const bool churns = !(i == 0 && signup_in_window) && unit(churn) < hazard;
        if (churns && i > 0 && m.tier != out[i - 1].tier) {
            // An account that leaves does not also move tier that month: it
            // leaves from the tier, and at the revenue, it held.
            m.tier = out[i - 1].tier;
            m.mrr = out[i - 1].mrr;
        }
        const double seats = m.mrr / params.seat_price * std::exp(0.1 * standard(activity));
        m.seats = std::max(1, static_cast<int>(std::lround(seats)));
        const SeatDraws& draws = seat_draws.get(m.seats, engaged, ticket_scale);
        m.active_users = draws.active_users(activity);
        m.support_tickets = draws.tickets(activity);
        m.late_payments = late(activity) ? 1 : 0;
        m.failed_payments = failed(activity) ? 1 : 0;
        if (churns) {
            m.churned = true;
            m.event = AccountEvent::Churn;
            return i + 1;
        }
    }
    return count;
}

}  // namespace normalize::core
