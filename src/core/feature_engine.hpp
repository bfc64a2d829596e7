// The feature engine: every catalogued feature of one entity at each of its
// cutoffs, in one pass over the entity's base rows in time order.
//
// It gives the same values as the generated feature views, which stay the
// readable reference of what each feature means, and it follows their
// arithmetic step for step so that most values are the same bits: windowed
// sums are differences of running sums accumulated in row order (as a
// window sum() over ROWS UNBOUNDED PRECEDING adds them), and the formulas
// of mean, stddev and slope are evaluated in the views' order. A window
// feature is unknown (NULL) unless every one of its periods is known and
// the entity has that many periods; change, percent change and growth
// need only the two ends.
//
// Sums and counts are differences of running values kept in a ring of the
// last periods: O(1) per period and feature. Minima and maxima scan the
// window's values in the ring, and only at a cutoff: cutoffs are rarer than
// periods (every 7th day of a device), and a scan of contiguous values
// costs less than a monotonic queue kept up to date on every period (which
// took most of the engine's time when measured on the devices). One scan
// per metric serves all its windows, the smaller ones on the way, and both
// the minimum and the maximum.
// Nothing is allocated after init(): the engine lives in
// one caller-supplied buffer and is trivially destructible, so the host may
// abandon it at any point (Postgres errors unwind by longjmp).
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace normalize::core {

enum class Aggregation : std::uint8_t {
    Last, Mean, Sum, Min, Max, Stddev, Slope, Change, PctChange, GrowthRate
};

// The catalog's name of an aggregation ("last", "mean", ..., "growth_rate");
// ArgumentError for any other.
Aggregation parse_aggregation(std::string_view name);

struct FeatureSpec {
    int metric;               // index of its metric in the values of a period
    Aggregation aggregation;
    int window;               // periods; 0 for Last
};

// Throws ArgumentError naming the feature (by index) when a spec cannot be
// computed: a metric out of range, a window below 2 or above kMaxWindow, a
// window given to Last.
void validate_feature_specs(const FeatureSpec* specs, int feature_count, int metric_count);

constexpr int kMaxWindow = 100000;

struct FeatureValue {
    double value;
    bool known;
};

class FeatureEngine {
public:
    // The bytes init() needs for these specs (validated first).
    static std::size_t buffer_size(const FeatureSpec* specs, int feature_count, int metric_count);

    // Lays the engine out in buffer (buffer_size bytes, aligned for double)
    // and copies the specs; call validate_feature_specs first.
    void init(void* buffer, const FeatureSpec* specs, int feature_count, int metric_count) noexcept;

    // Forgets the previous entity: the next period is the first of another.
    void start_entity() noexcept;

    // The entity's next period: one value per metric, known[m] false for
    // NULL.
    void add_period(const double* values, const bool* known) noexcept;

    // Every feature at the latest period, in spec order.
    void compute(FeatureValue* out) const noexcept;

    // Periods of the current entity so far.
    std::int64_t periods() const noexcept { return periods_; }

private:
    // The ring slot of the period k periods before the latest (k < ring_):
    // kept incrementally, as a division per lookup would cost more than
    // the arithmetic it serves.
    int slot_back(std::int64_t k) const noexcept {
        const int s = slot_ - static_cast<int>(k);
        return s < 0 ? s + ring_ : s;
    }
    bool complete(int metric, int window) const noexcept;
    double window_sum(const double* running, int metric, int window) const noexcept;
    void extremes(const int* group, int count, FeatureValue* out) const noexcept;
    void scan(int metric, std::int64_t from, std::int64_t to, double* low, double* high) const noexcept;
    FeatureValue windowed(const FeatureSpec& spec) const noexcept;
    FeatureValue two_ends(const FeatureSpec& spec) const noexcept;

    const FeatureSpec* specs_ = nullptr;
    int features_ = 0;
    int metrics_ = 0;
    int ring_ = 0;               // periods kept: the largest window + 1
    int slot_ = 0;               // the latest period's slot
    std::int64_t periods_ = 0;
    // Per metric and ring slot (index metric * ring_ + period % ring_): the
    // value, whether known, and the running count of known values and the
    // running sums of x, x * x and t * x up to that period (t from 1).
    double* value_ = nullptr;
    bool* known_ = nullptr;
    std::int64_t* count_ = nullptr;
    double* s1_ = nullptr;
    double* s2_ = nullptr;
    double* sx_ = nullptr;
    // The min and max features, by metric and then window.
    int* extremes_ = nullptr;
    int extreme_count_ = 0;
};

}  // namespace normalize::core
