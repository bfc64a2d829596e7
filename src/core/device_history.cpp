#include "device_history.hpp"

#include "stream.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace normalize::core {

namespace br = boost::random;

void check_device_history(const DeviceInput& input, int days, const DeviceParams& params) {
    if (!(std::isfinite(input.health) && input.health >= 0 && input.health <= 100))
        throw ArgumentError("health must be between 0 and 100, got " + format_number(input.health),
                            "Pass the device's current health score; run repair_values first.");
    if (days < 1 || days > kMaxHistoryDays)
        throw ArgumentError("days must be between 1 and " + std::to_string(kMaxHistoryDays) + ", got " +
                                std::to_string(days),
                            "Ask for the length of the history in days, such as 730.");
    if (!(std::isfinite(params.degradation) && params.degradation >= 0 && params.degradation <= 10))
        throw ArgumentError("degradation must be between 0 and 10, got " + format_number(params.degradation),
                            "Pass the health points lost per day at full use, such as 0.12.");
    if (!(std::isfinite(params.failure_rate) && params.failure_rate >= 0 && params.failure_rate <= 0.1))
        throw ArgumentError("failure_rate must be between 0 and 0.1, got " + format_number(params.failure_rate),
                            "Pass the daily failure hazard at health 60, such as 0.004.");
}

void simulate_device(std::string_view key, std::int64_t seed, const DeviceInput& input, int days,
                     const DeviceParams& params, DeviceDay* out) {
    check_device_history(input, days, params);
    const EntityStreams streams(seed, "device", key);
    const double pi = boost::math::constants::pi<double>();
    br::uniform_real_distribution<double> unit(0, 1);
    br::normal_distribution<double> standard(0, 1);

    Engine traits = streams.engine("traits");
    const double mean_usage = 0.3 + 0.6 * unit(traits);
    const double site_offset = 3 * standard(traits);
    const double service_interval = 120 + 240 * unit(traits);
    double health = std::min(98.0, 85 + 5 * standard(traits));

    Engine daily = streams.engine("daily");
    Engine events = streams.engine("events");
    double since_service = service_interval * unit(traits);
    for (int d = 0; d < days; ++d) {
        DeviceDay& day = out[d];
        day.day = d;
        const int back = days - 1 - d;
        const int weekday = ((input.as_of_weekday - back) % 7 + 7) % 7;
        const double doy = input.as_of_day_of_year - back;
        day.usage = std::clamp(mean_usage * (weekday == 0 || weekday == 6 ? 0.7 : 1.0) + 0.1 * standard(daily), 0.0, 1.0);
        day.temperature = 20 + 8 * std::sin(2 * pi * (doy - 110) / 365.25) + site_offset + 2 * standard(daily);
        const double heat = 1 + 0.03 * std::max(0.0, day.temperature - 25);
        health -= params.degradation * day.usage * heat;
        health += 0.3 * standard(daily);
        since_service += 1;
        day.maintenance = false;
        if (since_service >= service_interval || health < 40) {
            health = std::min(100.0, health + 25 + 15 * unit(events));
            day.maintenance = true;
            since_service = 0;
        }
        health = std::clamp(health, 0.0, 100.0);
        day.health = health;
        day.failure = false;
    }
    // Bend the path so that the last day is the device's current health.
    const double gap = input.health - out[days - 1].health;
    for (int d = 0; d < days; ++d) {
        const double w = days > 1 ? static_cast<double>(d) / (days - 1) : 1.0;
        out[d].health = std::clamp(out[d].health + gap * w, 0.0, 100.0);
    }
    out[days - 1].health = input.health;
    // Errors and failures follow the final path, so a device ending in poor
    // health shows it in both. A failed device is serviced the next day.
    Engine faults = streams.engine("faults");
    for (int d = 0; d < days; ++d) {
        DeviceDay& day = out[d];
        const double error_rate = (0.05 + 0.02 * std::max(0.0, 70 - day.health) / 10) * (0.5 + day.usage);
        day.errors = br::poisson_distribution<int, double>(error_rate)(faults);
        const double hazard = std::min(0.1, params.failure_rate * std::exp((60 - day.health) / 8));
        day.failure = unit(faults) < hazard;
        if (d > 0 && out[d - 1].failure)
            day.maintenance = true;
    }
}

}  // namespace normalize::core
