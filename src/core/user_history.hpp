// Weekly history of one user: an engagement trajectory that wanders around
// the user's level with momentum and ends at the current engagement (bridged
// like the device health), logins and sessions that follow engagement, and
// features adopted one at a time in catalogue order, faster for engaged
// users and for admins.
//
// Every draw comes from the stream (seed, "user", key, purpose).
#pragma once
#include "cpp_only.hpp"

#include "errors.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace normalize::core {

constexpr int kMaxHistoryWeeks = 2600;

enum class UserRole { Admin, Manager, Standard };
UserRole parse_role(std::string_view role);  // unknown roles are standard users

struct UserInput {
    double engagement;        // current engagement, 0-100
    UserRole role;
    int weeks_since_signup;   // < 0: draw it
    int features;             // size of the feature catalogue, >= 0
};

struct UserWeek {
    int week;                 // 0 = first week of the window
    double engagement;
    int logins;
    int sessions;
    int features_adopted;     // cumulative
    int adopted;              // index of the feature adopted this week, or -1
};

void check_user_history(const UserInput& input, int weeks);

// Writes at most `weeks` rows (fewer when the user signed up inside the
// window) and returns how many.
std::size_t simulate_user(std::string_view key, std::int64_t seed, const UserInput& input, int weeks,
                          UserWeek* out);

}  // namespace normalize::core
