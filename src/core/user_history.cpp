#include "user_history.hpp"

#include "stream.hpp"

#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace normalize::core {

namespace br = boost::random;

UserRole parse_role(std::string_view role) {
    if (role == "admin")
        return UserRole::Admin;
    if (role == "manager")
        return UserRole::Manager;
    return UserRole::Standard;
}

void check_user_history(const UserInput& input, int weeks) {
    if (!(std::isfinite(input.engagement) && input.engagement >= 0 && input.engagement <= 100))
        throw ArgumentError("engagement must be between 0 and 100, got " + format_number(input.engagement),
                            "Pass the user's current engagement score; run repair_values first.");
    if (weeks < 1 || weeks > kMaxHistoryWeeks)
        throw ArgumentError("weeks must be between 1 and " + std::to_string(kMaxHistoryWeeks) + ", got " +
                                std::to_string(weeks),
                            "Ask for the length of the history in weeks, such as 104.");
    if (input.features < 0 || input.features > 1000)
        throw ArgumentError("features must hold at most 1000 names, got " + std::to_string(input.features),
                            "Pass the feature catalogue in the order users adopt it.");
}

std::size_t simulate_user(std::string_view key, std::int64_t seed, const UserInput& input, int weeks,
                          UserWeek* out) {
    check_user_history(input, weeks);
    const EntityStreams streams(seed, "user", key);
    br::uniform_real_distribution<double> unit(0, 1);
    br::normal_distribution<double> standard(0, 1);

    int since_signup = input.weeks_since_signup;
    if (since_signup < 0) {
        Engine e = streams.engine("signup");
        since_signup = br::uniform_int_distribution<int>(0, 2 * weeks)(e);
    }
    const int first = since_signup <= weeks - 1 ? weeks - 1 - since_signup : 0;
    const std::size_t count = static_cast<std::size_t>(weeks - first);

    // Engagement: mean-reverting around the current level, then bridged.
    Engine path = streams.engine("engagement");
    double e = std::clamp(input.engagement + 10 * standard(path), 0.0, 100.0);
    for (std::size_t i = 0; i < count; ++i) {
        e += 0.1 * (input.engagement - e) + 3 * standard(path);
        e = std::clamp(e, 0.0, 100.0);
        out[i].week = first + static_cast<int>(i);
        out[i].engagement = e;
    }
    const double gap = input.engagement - out[count - 1].engagement;
    for (std::size_t i = 0; i < count; ++i) {
        const double w = count > 1 ? static_cast<double>(i) / (count - 1) : 1.0;
        out[i].engagement = std::clamp(out[i].engagement + gap * w, 0.0, 100.0);
    }
    out[count - 1].engagement = input.engagement;

    // Activity and adoption follow the final trajectory.
    Engine activity = streams.engine("activity");
    const double role_pace = input.role == UserRole::Admin ? 1.5 : input.role == UserRole::Manager ? 1.2 : 1.0;
    int adopted = 0;
    for (std::size_t i = 0; i < count; ++i) {
        UserWeek& w = out[i];
        w.logins = br::poisson_distribution<int, double>(0.3 + 0.08 * w.engagement)(activity);
        w.sessions = w.logins + br::poisson_distribution<int, double>(0.05 + 0.3 * w.logins)(activity);
        w.adopted = -1;
        const double p = std::min(0.5, (0.002 + 0.0003 * w.engagement) * role_pace);
        if (adopted < input.features && unit(activity) < p)
            w.adopted = adopted++;
        w.features_adopted = adopted;
    }
    return count;
}

}  // namespace normalize::core
