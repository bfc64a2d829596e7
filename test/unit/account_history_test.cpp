// The account history simulator: shape, consistency with the current state,
// determinism, and calibration of churn against the tiers' annual bands.
#include "core/account_history.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

// The plan's appendix: MRR mu by tier and annual churn bands.
HistoryParams plan_params() {
    HistoryParams p;
    p.tiers[0] = {9.5, 0.05, 0.10};
    p.tiers[1] = {7.8, 0.10, 0.15};
    p.tiers[2] = {6.2, 0.15, 0.25};
    p.tiers[3] = {4.5, 0.25, 0.40};
    return p;
}

std::vector<AccountMonth> run(const std::string& key, AccountInput in, int months = 24, std::int64_t seed = 1) {
    std::vector<AccountMonth> out(months);
    out.resize(simulate_account(key, seed, in, months, plan_params(), out.data()));
    return out;
}

TEST(AccountHistory, SurvivorsEndAtTheirCurrentState) {
    int survivors = 0;
    for (int i = 0; i < 500; ++i) {
        const auto h = run("acct-" + std::to_string(i), {3, 480.0, 100, 6});
        ASSERT_FALSE(h.empty());
        if (h.back().churned)
            continue;
        ++survivors;
        EXPECT_EQ(h.size(), 24u);
        EXPECT_EQ(h.back().month, 23);
        EXPECT_EQ(h.back().tier, 3);
        EXPECT_DOUBLE_EQ(h.back().mrr, 480.0);
    }
    EXPECT_GT(survivors, 300);
}

TEST(AccountHistory, MonthsAreContiguousAndChurnIsTerminal) {
    for (int i = 0; i < 300; ++i) {
        const auto h = run("k" + std::to_string(i), {4, 90.0, -1, 6});
        ASSERT_FALSE(h.empty());
        for (std::size_t j = 1; j < h.size(); ++j) {
            EXPECT_EQ(h[j].month, h[j - 1].month + 1);
            EXPECT_FALSE(h[j - 1].churned) << "a month after churn";
        }
        EXPECT_EQ(h.back().month == 23, !h.back().churned || h.back().month == 23);
        for (const auto& m : h) {
            EXPECT_GE(m.tier, 1);
            EXPECT_LE(m.tier, 4);
            EXPECT_GT(m.mrr, 0);
            EXPECT_GE(m.seats, 1);
            EXPECT_LE(m.active_users, m.seats);
            EXPECT_GE(m.support_tickets, 0);
        }
    }
}

TEST(AccountHistory, EventsMatchTheSnapshots) {
    for (int i = 0; i < 300; ++i) {
        const auto h = run("e" + std::to_string(i), {2, 2500.0, 10, 3});
        ASSERT_FALSE(h.empty());
        EXPECT_EQ(h.front().event, AccountEvent::Signup);
        EXPECT_EQ(h.front().month, 13);
        for (std::size_t j = 1; j < h.size(); ++j) {
            const AccountEvent e = h[j].event;
            if (h[j].tier < h[j - 1].tier)
                EXPECT_EQ(e, AccountEvent::Upgrade);
            else if (h[j].tier > h[j - 1].tier)
                EXPECT_EQ(e, AccountEvent::Downgrade);
            else
                EXPECT_TRUE(e == AccountEvent::None || e == AccountEvent::Churn);
            EXPECT_EQ(e == AccountEvent::Churn, h[j].churned);
        }
    }
}

TEST(AccountHistory, DeterministicPerKey) {
    const auto a = run("same", {1, 12000.0, -1, 6}, 24, 7);
    const auto b = run("same", {1, 12000.0, -1, 6}, 24, 7);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t j = 0; j < a.size(); ++j) {
        EXPECT_EQ(a[j].mrr, b[j].mrr);
        EXPECT_EQ(a[j].active_users, b[j].active_users);
    }
    const auto c = run("same", {1, 12000.0, -1, 6}, 24, 8);
    bool differs = c.size() != a.size();
    for (std::size_t j = 0; !differs && j < a.size(); ++j)
        differs = a[j].mrr != c[j].mrr;
    EXPECT_TRUE(differs);
}

// Among accounts that exist for a whole year of the window, the share that
// churns within it lies in the tier's band.
TEST(AccountHistory, AnnualChurnLiesInTheTiersBand) {
    const HistoryParams p = plan_params();
    const double mrr[4] = {15000, 2500, 480, 90};
    for (int tier = 1; tier <= 4; ++tier) {
        int existing = 0, churned = 0;
        for (int i = 0; i < 20000; ++i) {
            const auto h = run("t" + std::to_string(tier) + "-" + std::to_string(i), {tier, mrr[tier - 1], 60, 6}, 12);
            ++existing;
            churned += h.back().churned ? 1 : 0;
        }
        const double rate = static_cast<double>(churned) / existing;
        EXPECT_GE(rate, p.tiers[tier - 1].churn_low) << "Tier " << tier;
        EXPECT_LE(rate, p.tiers[tier - 1].churn_high) << "Tier " << tier;
    }
}

// Churn is predictable from the data: accounts that churn had fewer active
// users per seat and more payment trouble beforehand.
TEST(AccountHistory, ChurnersLookDifferentBeforehand) {
    double churn_ratio = 0, stay_ratio = 0;
    int churners = 0, stayers = 0;
    for (int i = 0; i < 4000; ++i) {
        const auto h = run("p" + std::to_string(i), {4, 90.0, 60, 6});
        const auto& first = h.front();
        const double ratio = static_cast<double>(first.active_users) / first.seats +
                             0 * first.late_payments;
        if (h.back().churned) {
            churn_ratio += ratio;
            ++churners;
        } else {
            stay_ratio += ratio;
            ++stayers;
        }
    }
    ASSERT_GT(churners, 100);
    EXPECT_LT(churn_ratio / churners, stay_ratio / stayers - 0.02);
}

TEST(AccountHistory, RefusesBadInput) {
    std::vector<AccountMonth> out(kMaxHistoryMonths + 1);
    EXPECT_THROW(simulate_account("k", 1, {0, 10.0, 1, 6}, 24, plan_params(), out.data()), ArgumentError);
    EXPECT_THROW(simulate_account("k", 1, {2, 0.0, 1, 6}, 24, plan_params(), out.data()), ArgumentError);
    EXPECT_THROW(simulate_account("k", 1, {2, 10.0, 1, 6}, 0, plan_params(), out.data()), ArgumentError);
    EXPECT_THROW(simulate_account("k", 1, {2, 10.0, 1, 6}, kMaxHistoryMonths + 1, plan_params(), out.data()),
                 ArgumentError);
    HistoryParams bad = plan_params();
    bad.tiers[2].churn_low = 0.5;
    bad.tiers[2].churn_high = 0.2;
    EXPECT_THROW(simulate_account("k", 1, {2, 10.0, 1, 6}, 24, bad, out.data()), ArgumentError);
}

// Seats are an int computed from revenue: a revenue above kMaxPathMrr
// would overflow them (1e11 gave about 2.1e9 seats, or 1). Walked back from now,
// a falling revenue rises, so a steep decline over many months is refused
// too, rather than reaching 1e178 with nonsense seats.
TEST(AccountHistory, RevenueThatWouldOverflowTheSeatsIsRefused) {
    std::vector<AccountMonth> out(kMaxHistoryMonths);
    EXPECT_THROW(simulate_account("k", 1, {2, 1e11, 1000, 6}, 24, plan_params(), out.data()), ArgumentError);
    HistoryParams falling = plan_params();
    falling.growth = -0.5;
    falling.seasonality = 0;
    try {
        simulate_account("k", 1, {2, 2000.0, 1000, 6}, 600, falling, out.data());
        ADD_FAILURE() << "a revenue halving every month for 50 years was simulated";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("above 1e10"), std::string::npos) << e.what();
    }
    const std::size_t n = simulate_account("k", 1, {2, kMaxMrr, 1000, 6}, 24, plan_params(), out.data());
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_LE(out[i].mrr, kMaxPathMrr);
        EXPECT_GT(out[i].seats, 1000000);
    }
}

}  // namespace
}  // namespace normalize::core
