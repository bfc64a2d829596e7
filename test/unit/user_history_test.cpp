// The user history simulator: engagement ends at the current level,
// adoption goes in catalogue order and faster for engaged admins.
#include "core/user_history.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace normalize::core {
namespace {

std::vector<UserWeek> run(const std::string& key, double engagement, UserRole role, int weeks = 104,
                          int since = 500, std::int64_t seed = 1) {
    std::vector<UserWeek> out(weeks);
    out.resize(simulate_user(key, seed, {engagement, role, since, 8}, weeks, out.data()));
    return out;
}

TEST(UserHistory, EndsAtTheCurrentEngagement) {
    for (double e : {0.0, 33.0, 88.5, 100.0}) {
        const auto w = run("u" + std::to_string(e), e, UserRole::Manager);
        ASSERT_EQ(w.size(), 104u);
        EXPECT_EQ(w.back().engagement, e);
        for (const auto& x : w) {
            EXPECT_GE(x.engagement, 0);
            EXPECT_LE(x.engagement, 100);
            EXPECT_GE(x.sessions, x.logins);
        }
    }
}

TEST(UserHistory, AdoptsInOrderAndFasterWhenEngaged) {
    double admins = 0, standard = 0;
    for (int i = 0; i < 300; ++i) {
        for (const auto* role : {"a", "s"}) {
            const bool admin = role[0] == 'a';
            const auto w = run(std::string(role) + std::to_string(i), admin ? 85 : 30,
                               admin ? UserRole::Admin : UserRole::Standard);
            int expected = 0;
            for (const auto& x : w)
                if (x.adopted >= 0) {
                    EXPECT_EQ(x.adopted, expected);
                    ++expected;
                }
            (admin ? admins : standard) += w.back().features_adopted;
        }
    }
    EXPECT_GT(admins, 2 * standard);
}

TEST(UserHistory, SignupInsideTheWindowShortensIt) {
    const auto w = run("new", 50, UserRole::Standard, 104, 10);
    EXPECT_EQ(w.size(), 11u);
    EXPECT_EQ(w.front().week, 93);
}

TEST(UserHistory, RefusesBadInput) {
    std::vector<UserWeek> out(10);
    EXPECT_THROW(simulate_user("k", 1, {101, UserRole::Admin, 1, 8}, 10, out.data()), ArgumentError);
    EXPECT_THROW(simulate_user("k", 1, {50, UserRole::Admin, 1, 8}, 0, out.data()), ArgumentError);
    EXPECT_EQ(parse_role("admin"), UserRole::Admin);
    EXPECT_EQ(parse_role("something else"), UserRole::Standard);
}

}  // namespace
}  // namespace normalize::core
