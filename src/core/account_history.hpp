// Monthly history of one account, simulated from its current state.
//
// The path is built so that it ends where the account is now: the tier and
// the revenue are walked backward from the current values (a backward
// Markov chain of upgrades and downgrades, revenue divided by each month's
// growth and seasonality), while churn runs forward with a monthly hazard
// taken from the tier's annual churn band and raised or lowered by the
// account's latent health. The same latent health drives what the data
// shows (active users, support tickets, late and failed payments), so churn
// can be predicted from the data rather than being a coin toss. An account
// that churns has no month after its churn month; one that survives ends at
// its current tier and revenue.
//
// Every draw comes from the stream (seed, "account", key, purpose), so an
// account's history depends on nothing but its own inputs.
#pragma once
#include "cpp_only.hpp"

#include "errors.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace normalize::core {

constexpr int kTiers = 4;
constexpr int kMaxHistoryMonths = 600;
// The largest monthly revenue of an account in any month of its history
// (kMaxPathMrr), and now (kMaxMrr, a tenth of it, so that the noise of the
// months before does not reach it): seats follow from revenue (seat_price a
// seat) and are an int, which about 8.6e10 would overflow. Walked back from
// now, a falling revenue (negative growth) rises, by up to 2x a month, so a
// steep decline over many months is refused too.
constexpr double kMaxMrr = 1e9;
constexpr double kMaxPathMrr = 1e10;

struct TierProfile {
    double mrr_mu;       // lognormal mu of the tier's monthly revenue
    double churn_low;    // annual churn band
    double churn_high;
};

struct HistoryParams {
    TierProfile tiers[kTiers];
    double growth = 0.01;        // mean month-on-month revenue growth
    double seasonality = 0.03;   // amplitude of the yearly cycle, peaking in December
    double noise = 0.02;         // sd of the monthly revenue growth
    double upgrade = 0.010;      // monthly chance of moving up a tier
    double downgrade = 0.005;    // monthly chance of moving down a tier
    double risk_weight = 1.2;    // how strongly latent health moves the churn hazard
    double seat_price = 40;      // revenue per seat
};

enum class AccountEvent : std::uint8_t { None, Signup, Upgrade, Downgrade, Churn };
const char* account_event_name(AccountEvent event);

struct AccountMonth {
    int month;            // 0 = the first month of the window, months-1 = as_of's month
    int tier;             // 1..4
    double mrr;
    int seats;
    int active_users;
    int support_tickets;
    int late_payments;
    int failed_payments;
    bool churned;         // the churn month itself; nothing follows it
    AccountEvent event;
};

struct AccountInput {
    int tier;                // current tier, 1..4
    double mrr;              // current monthly revenue, > 0
    int months_since_signup; // months before as_of's month the account signed up; < 0: draw it
    int as_of_month;         // calendar month of as_of, 1..12
};

// Validates params and input; throws ArgumentError naming the argument.
void check_history(const AccountInput& input, int months, const HistoryParams& params);

// Writes at most `months` rows into out (capacity >= months) and returns how
// many: fewer when the account signed up inside the window or churned.
std::size_t simulate_account(std::string_view key, std::int64_t seed, const AccountInput& input,
                             int months, const HistoryParams& params, AccountMonth* out);

}  // namespace normalize::core
