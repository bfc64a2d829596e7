#include "feature_engine.hpp"

#include "errors.hpp"

#include <cmath>
#include <string>
#include <utility>

namespace normalize::core {

namespace {

struct AggregationName {
    std::string_view name;
    Aggregation aggregation;
};

constexpr AggregationName kAggregations[] = {
    {"last", Aggregation::Last},     {"mean", Aggregation::Mean},         {"sum", Aggregation::Sum},
    {"min", Aggregation::Min},       {"max", Aggregation::Max},           {"stddev", Aggregation::Stddev},
    {"slope", Aggregation::Slope},   {"change", Aggregation::Change},     {"pct_change", Aggregation::PctChange},
    {"growth_rate", Aggregation::GrowthRate},
};

// Volatile: a constant 2 lets the compiler turn pow(x, 2) into x * x.
volatile double kTwo = 2.0;

bool is_extreme(Aggregation a) { return a == Aggregation::Min || a == Aggregation::Max; }

// Round n up to a multiple of 8 bytes, so that every array starts aligned.
std::size_t aligned(std::size_t n) { return (n + 7) & ~static_cast<std::size_t>(7); }

int largest_window(const FeatureSpec* specs, int feature_count) {
    int largest = 0;
    for (int f = 0; f < feature_count; ++f)
        if (specs[f].window > largest) largest = specs[f].window;
    return largest;
}

}  // namespace

Aggregation parse_aggregation(std::string_view name) {
    for (const auto& a : kAggregations)
        if (a.name == name) return a.aggregation;
    throw ArgumentError("aggregation must be one of the feature catalog's, got \"" + std::string(name) + "\"",
                        "The aggregations are last, mean, sum, min, max, stddev, slope, change, pct_change "
                        "and growth_rate.");
}

void validate_feature_specs(const FeatureSpec* specs, int feature_count, int metric_count) {
    if (feature_count < 0 || metric_count < 0)
        throw ArgumentError("feature and metric counts must not be negative",
                            "Pass the features of one entity and the metrics of its base rows.");
    for (int f = 0; f < feature_count; ++f) {
        const FeatureSpec& s = specs[f];
        const std::string which = "feature " + std::to_string(f + 1);
        if (s.metric < 0 || s.metric >= metric_count)
            throw ArgumentError(which + " reads metric " + std::to_string(s.metric) + ", not one of the " +
                                    std::to_string(metric_count) + " metrics",
                                "Each feature reads one metric of its entity's base rows.");
        if (s.aggregation == Aggregation::Last ? s.window != 0 : (s.window < 2 || s.window > kMaxWindow))
            throw ArgumentError(which + " has window " + std::to_string(s.window),
                                "The last value takes no window; a windowed feature takes 2 to " +
                                    std::to_string(kMaxWindow) + " periods.");
    }
}

std::size_t FeatureEngine::buffer_size(const FeatureSpec* specs, int feature_count, int metric_count) {
    validate_feature_specs(specs, feature_count, metric_count);
    const std::size_t slots = static_cast<std::size_t>(metric_count) * (largest_window(specs, feature_count) + 1);
    std::size_t bytes = aligned(sizeof(FeatureSpec) * feature_count) + aligned(sizeof(int) * feature_count);
    bytes += 4 * aligned(sizeof(double) * slots) + aligned(sizeof(std::int64_t) * slots) + aligned(sizeof(bool) * slots);
    return bytes;
}

void FeatureEngine::init(void* buffer, const FeatureSpec* specs, int feature_count, int metric_count) noexcept {
    features_ = feature_count;
    metrics_ = metric_count;
    ring_ = largest_window(specs, feature_count) + 1;
    const std::size_t slots = static_cast<std::size_t>(metric_count) * ring_;
    char* p = static_cast<char*>(buffer);
    auto take = [&p](std::size_t bytes) {
        char* at = p;
        p += aligned(bytes);
        return at;
    };
    auto* own_specs = reinterpret_cast<FeatureSpec*>(take(sizeof(FeatureSpec) * feature_count));
    for (int f = 0; f < feature_count; ++f) own_specs[f] = specs[f];
    specs_ = own_specs;
    value_ = reinterpret_cast<double*>(take(sizeof(double) * slots));
    s1_ = reinterpret_cast<double*>(take(sizeof(double) * slots));
    s2_ = reinterpret_cast<double*>(take(sizeof(double) * slots));
    sx_ = reinterpret_cast<double*>(take(sizeof(double) * slots));
    count_ = reinterpret_cast<std::int64_t*>(take(sizeof(std::int64_t) * slots));
    known_ = reinterpret_cast<bool*>(take(sizeof(bool) * slots));
    extremes_ = reinterpret_cast<int*>(take(sizeof(int) * feature_count));
    extreme_count_ = 0;
    for (int f = 0; f < feature_count; ++f)
        if (is_extreme(specs[f].aggregation)) extremes_[extreme_count_++] = f;
    // By metric, then window: an insertion sort of a few dozen.
    auto before = [&](int a, int b) {
        return specs[a].metric != specs[b].metric ? specs[a].metric < specs[b].metric : specs[a].window < specs[b].window;
    };
    for (int i = 1; i < extreme_count_; ++i)
        for (int j = i; j > 0 && before(extremes_[j], extremes_[j - 1]); --j) std::swap(extremes_[j], extremes_[j - 1]);
    start_entity();
}

void FeatureEngine::start_entity() noexcept {
    periods_ = 0;
    slot_ = ring_ - 1;
}

void FeatureEngine::add_period(const double* values, const bool* known) noexcept {
    const std::int64_t p = periods_++;
    const int previous_slot = slot_;
    slot_ = slot_ + 1 == ring_ ? 0 : slot_ + 1;
    const double t = static_cast<double>(p + 1);
    for (int m = 0; m < metrics_; ++m) {
        const std::size_t at = m * ring_ + slot_;
        const std::size_t before = m * ring_ + previous_slot;
        const std::int64_t count = p > 0 ? count_[before] : 0;
        value_[at] = values[m];
        known_[at] = known[m];
        count_[at] = count + (known[m] ? 1 : 0);
        if (!known[m]) {
            s1_[at] = count > 0 ? s1_[before] : 0.0;
            s2_[at] = count > 0 ? s2_[before] : 0.0;
            sx_[at] = count > 0 ? sx_[before] : 0.0;
        } else if (count == 0) {
            // A window sum starts at its first value, not at 0 + value (the
            // two differ for -0.0).
            s1_[at] = values[m];
            s2_[at] = values[m] * values[m];
            sx_[at] = t * values[m];
        } else {
            s1_[at] = s1_[before] + values[m];
            s2_[at] = s2_[before] + values[m] * values[m];
            sx_[at] = sx_[before] + t * values[m];
        }
    }
}

bool FeatureEngine::complete(int metric, int window) const noexcept {
    const std::int64_t before = periods_ > window ? count_[metric * ring_ + slot_back(window)] : 0;
    return count_[metric * ring_ + slot_] - before == window;
}

// The running sum now minus the running sum window periods back (0 when
// nothing was known by then), as the views take it.
double FeatureEngine::window_sum(const double* running, int metric, int window) const noexcept {
    const int lag = metric * ring_ + slot_back(window);
    const bool lag_known = periods_ > window && count_[lag] > 0;
    return running[metric * ring_ + slot_] - (lag_known ? running[lag] : 0.0);
}

// The least and greatest values of the periods from back to back (from
// included, to not; 0 is the latest), all known: at most two runs of slots.
void FeatureEngine::scan(int metric, std::int64_t from, std::int64_t to, double* low, double* high) const noexcept {
    const double* values = value_ + metric * ring_;
    double lo = *low, hi = *high;
    auto run = [&](int first, int last) {  // slots first..last, ascending
        for (int i = first; i <= last; ++i) {
            lo = values[i] < lo ? values[i] : lo;
            hi = values[i] > hi ? values[i] : hi;
        }
    };
    const int newest = slot_back(from), oldest = slot_back(to - 1);
    if (oldest <= newest) {
        run(oldest, newest);
    } else {
        run(oldest, ring_ - 1);
        run(0, newest);
    }
    *low = lo;
    *high = hi;
}

// The min and max features of one metric (group, by window): one scan back
// from the latest period, as far as the largest complete window.
void FeatureEngine::extremes(const int* group, int count, FeatureValue* out) const noexcept {
    const int metric = specs_[group[0]].metric;
    int reach = 0;  // the largest complete window of the group
    for (int i = count - 1; i >= 0 && reach == 0; --i)
        if (complete(metric, specs_[group[i]].window)) reach = specs_[group[i]].window;
    const double latest = value_[metric * ring_ + slot_];
    double low = latest, high = latest;
    std::int64_t scanned = 1;
    for (int i = 0; i < count; ++i) {
        const FeatureSpec& s = specs_[group[i]];
        if (s.window > reach) {
            out[group[i]] = {0.0, false};
            continue;
        }
        if (s.window > scanned) {
            scan(metric, scanned, s.window, &low, &high);
            scanned = s.window;
        }
        out[group[i]] = {s.aggregation == Aggregation::Min ? low : high, true};
    }
}

FeatureValue FeatureEngine::windowed(const FeatureSpec& s) const noexcept {
    if (!complete(s.metric, s.window)) return {0.0, false};
    const double n = s.window;
    switch (s.aggregation) {
    case Aggregation::Mean:
        return {window_sum(s1_, s.metric, s.window) / n, true};
    case Aggregation::Sum:
        return {window_sum(s1_, s.metric, s.window), true};
    case Aggregation::Stddev: {
        const double s1 = window_sum(s1_, s.metric, s.window);
        // pow(), not s1 * s1 (which the compiler would make of pow(s1, 2.0)):
        // the views square with pow(), and the two can differ in the last
        // bit, which the subtraction below magnifies.
        const double spread = (window_sum(s2_, s.metric, s.window) - std::pow(s1, kTwo) / n) / (n - 1);
        return {std::sqrt(spread > 0.0 ? spread : 0.0), true};
    }
    case Aggregation::Slope: {
        // Least squares over t = periods - n + 1 .. periods: the sum of
        // (t - mean t) * x over the sum of (t - mean t)^2 = n (n^2 - 1) / 12.
        const double t = static_cast<double>(periods_);
        const double sx = window_sum(sx_, s.metric, s.window);
        const double s1 = window_sum(s1_, s.metric, s.window);
        return {(sx - (t - (n - 1) / 2.0) * s1) / (n * (n * n - 1) / 12.0), true};
    }
    default:
        return {0.0, false};
    }
}

FeatureValue FeatureEngine::two_ends(const FeatureSpec& s) const noexcept {
    const int now = s.metric * ring_ + slot_;
    const int lag = s.metric * ring_ + slot_back(s.window);
    if (!known_[now] || periods_ <= s.window || !known_[lag]) return {0.0, false};
    const double x = value_[now];
    const double b = value_[lag];
    switch (s.aggregation) {
    case Aggregation::Change:
        return {x - b, true};
    case Aggregation::PctChange:
        if (std::fabs(b) == 0.0) return {0.0, false};
        return {(x - b) / std::fabs(b), true};
    case Aggregation::GrowthRate:
        if (!(x > 0.0 && b > 0.0)) return {0.0, false};
        return {std::pow(x / b, 1.0 / s.window) - 1, true};
    default:
        return {0.0, false};
    }
}

void FeatureEngine::compute(FeatureValue* out) const noexcept {
    if (periods_ == 0) {
        for (int f = 0; f < features_; ++f) out[f] = {0.0, false};
        return;
    }
    for (int f = 0; f < features_; ++f) {
        const FeatureSpec& s = specs_[f];
        switch (s.aggregation) {
        case Aggregation::Last:
            out[f] = {value_[s.metric * ring_ + slot_], known_[s.metric * ring_ + slot_]};
            break;
        case Aggregation::Change:
        case Aggregation::PctChange:
        case Aggregation::GrowthRate:
            out[f] = two_ends(s);
            break;
        case Aggregation::Min:
        case Aggregation::Max:
            break;  // below, a metric at a time
        default:
            out[f] = windowed(s);
        }
    }
    for (int i = 0; i < extreme_count_;) {
        int j = i + 1;
        while (j < extreme_count_ && specs_[extremes_[j]].metric == specs_[extremes_[i]].metric) ++j;
        extremes(extremes_ + i, j - i, out);
        i = j;
    }
}

}  // namespace normalize::core
