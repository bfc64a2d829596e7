// Daily history of one device, simulated forward from a healthy start and
// bent at the end to meet the device's current health (a linear bridge, so
// the dynamics keep their shape and the last day agrees with the repaired
// current state). Health degrades with use, faster when hot; maintenance,
// scheduled or forced by low health, restores it; errors rise as health
// falls; failures have a hazard that rises steeply as health falls, and a
// failed device is serviced the next day.
//
// Every draw comes from the stream (seed, "device", key, purpose).
#pragma once
#include "cpp_only.hpp"

#include "errors.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace normalize::core {

constexpr int kMaxHistoryDays = 20000;

struct DeviceParams {
    double degradation = 0.12;    // health points lost per day at full use
    double failure_rate = 0.004;  // daily failure hazard at health 60
};

struct DeviceInput {
    double health;       // current health, 0-100
    int as_of_day_of_year;  // 1..366
    int as_of_weekday;      // 0 = Sunday .. 6
};

struct DeviceDay {
    int day;              // 0 = first day of the window
    double health;
    double usage;         // 0-1
    double temperature;   // degrees C
    int errors;
    bool maintenance;
    bool failure;
};

void check_device_history(const DeviceInput& input, int days, const DeviceParams& params);

// Writes `days` rows into out (capacity >= days).
void simulate_device(std::string_view key, std::int64_t seed, const DeviceInput& input, int days,
                     const DeviceParams& params, DeviceDay* out);

}  // namespace normalize::core
