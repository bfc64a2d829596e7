#include "id_rules.hpp"

#include "ids.hpp"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>

namespace normalize::core {

std::string_view rule_name(LinkRule rule) {
    switch (rule) {
        case LinkRule::exact:
            return "exact";
        case LinkRule::normalized:
            return "normalized";
        case LinkRule::number:
            return "number";
        case LinkRule::offset:
            return "offset";
    }
    return "";
}

namespace {

// Counts every difference between the first (or last) kOffsetProbe values
// of both sorted lists.
void count_differences(const std::vector<std::int64_t>& refs, const std::vector<std::int64_t>& targets,
                       bool from_top, std::unordered_map<std::int64_t, std::int64_t>& counts) {
    const std::size_t nr = std::min(kOffsetProbe, refs.size());
    const std::size_t nt = std::min(kOffsetProbe, targets.size());
    for (std::size_t i = 0; i < nr; ++i) {
        const std::int64_t r = from_top ? refs[refs.size() - 1 - i] : refs[i];
        for (std::size_t j = 0; j < nt; ++j) {
            const std::int64_t t = from_top ? targets[targets.size() - 1 - j] : targets[j];
            std::int64_t k;
            if (!__builtin_sub_overflow(r, t, &k) && k != 0)
                ++counts[k];
        }
    }
}

std::int64_t magnitude(std::int64_t k) {
    return k < 0 ? -(k + 1) : k;  // |k| - 1 for negatives: no overflow at INT64_MIN
}

bool smaller_magnitude(std::int64_t a, std::int64_t b) {
    // |a| < |b|, with |k| = magnitude(k) + (k < 0)
    const std::uint64_t ua = static_cast<std::uint64_t>(magnitude(a)) + (a < 0);
    const std::uint64_t ub = static_cast<std::uint64_t>(magnitude(b)) + (b < 0);
    return ua < ub;
}

// A set of strings for membership tests only: open addressing over one
// array of indexes, with each string's hash kept beside it. Built once,
// never grown; far fewer cache misses than a node-based set.
class StringSet {
public:
    explicit StringSet(std::vector<std::string_view> items) : items_(std::move(items)) {
        std::size_t size = 16;
        while (size < 2 * items_.size())
            size *= 2;
        mask_ = size - 1;
        slots_.assign(size, kEmpty);
        hashes_.resize(items_.size());
        for (std::size_t i = 0; i < items_.size(); ++i) {
            hashes_[i] = std::hash<std::string_view>{}(items_[i]);
            std::size_t slot = hashes_[i] & mask_;
            while (slots_[slot] != kEmpty)
                slot = (slot + 1) & mask_;
            slots_[slot] = static_cast<std::uint32_t>(i);
        }
    }
    bool contains(std::string_view s) const {
        const std::size_t h = std::hash<std::string_view>{}(s);
        for (std::size_t slot = h & mask_; slots_[slot] != kEmpty; slot = (slot + 1) & mask_) {
            const std::uint32_t i = slots_[slot];
            if (hashes_[i] == h && items_[i] == s)
                return true;
        }
        return false;
    }

private:
    static constexpr std::uint32_t kEmpty = 0xffffffffu;
    std::vector<std::string_view> items_;
    std::vector<std::size_t> hashes_;
    std::vector<std::uint32_t> slots_;
    std::size_t mask_ = 0;
};

std::vector<std::int64_t> sorted_distinct(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

}  // namespace

std::vector<std::int64_t> offset_candidates(const std::vector<std::int64_t>& refs,
                                            const std::vector<std::int64_t>& targets) {
    std::unordered_map<std::int64_t, std::int64_t> counts;
    count_differences(refs, targets, false, counts);
    count_differences(refs, targets, true, counts);
    std::vector<std::pair<std::int64_t, std::int64_t>> frequent;  // (difference, count)
    for (const auto& [k, n] : counts)
        if (n >= 2)
            frequent.emplace_back(k, n);
    std::sort(frequent.begin(), frequent.end(), [](const auto& a, const auto& b) {
        if (a.second != b.second)
            return a.second > b.second;
        if (smaller_magnitude(a.first, b.first) || smaller_magnitude(b.first, a.first))
            return smaller_magnitude(a.first, b.first);
        return a.first < b.first;
    });
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < frequent.size() && i < kMaxOffsetCandidates - 1; ++i)
        out.push_back(frequent[i].first);

    if (!refs.empty() && !targets.empty() && refs.front() > 0 && refs.front() > targets.back()) {
        std::int64_t power = 1;
        while (power <= refs.front() / 10)
            power *= 10;
        if (std::find(out.begin(), out.end(), power) == out.end())
            out.push_back(power);
    }
    return out;
}

std::size_t score_rules(const std::vector<ReferenceValue>& refs,
                        const std::vector<std::string_view>& targets, RuleScore* out) {
    // The targets' numbers are kept sorted (the offset candidates need them
    // so) and searched by bisection.
    std::vector<std::string_view> target_norm;
    std::vector<std::int64_t> target_num;
    target_norm.reserve(targets.size());
    target_num.reserve(targets.size());
    // The normalized IDs live in one buffer sized up front (a normalized ID
    // is never longer than its raw one), so the views into it stay valid.
    std::size_t capacity = 0;
    for (const std::string_view t : targets)
        capacity += t.size();
    std::string norms(capacity, '\0');
    std::size_t used = 0;
    for (const std::string_view t : targets) {
        const std::size_t len = normalize_id(t, norms.data() + used);
        if (len > 0) {
            target_norm.emplace_back(norms.data() + used, len);
            used += len;
        }
        const IdParts parts = parse_id(t);
        if (parts.valid)
            target_num.push_back(parts.number);
    }
    const StringSet raw_set(targets);
    const StringSet norm_set(std::move(target_norm));
    target_num = sorted_distinct(std::move(target_num));
    const auto has_num = [&target_num](std::int64_t n) {
        return std::binary_search(target_num.begin(), target_num.end(), n);
    };

    std::int64_t exact = 0, normalized = 0, number = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> numbered;  // (number, rows)
    numbered.reserve(refs.size());
    std::string norm;
    for (const ReferenceValue& r : refs) {
        if (raw_set.contains(r.raw))
            exact += r.rows;
        norm.resize(r.raw.size());
        norm.resize(normalize_id(r.raw, norm.data()));
        if (!norm.empty() && norm_set.contains(norm))
            normalized += r.rows;
        const IdParts parts = parse_id(r.raw);
        if (parts.valid) {
            numbered.emplace_back(parts.number, r.rows);
            if (has_num(parts.number))
                number += r.rows;
        }
    }
    std::size_t n = 0;
    out[n++] = RuleScore{LinkRule::exact, 0, exact};
    out[n++] = RuleScore{LinkRule::normalized, 0, normalized};
    out[n++] = RuleScore{LinkRule::number, 0, number};

    std::vector<std::int64_t> ref_nums;
    ref_nums.reserve(numbered.size());
    for (const auto& [num, rows] : numbered)
        ref_nums.push_back(num);
    for (const std::int64_t k : offset_candidates(sorted_distinct(std::move(ref_nums)), target_num)) {
        std::int64_t linked = 0;
        for (const auto& [num, rows] : numbered) {
            std::int64_t shifted;
            if (!__builtin_sub_overflow(num, k, &shifted) && has_num(shifted))
                linked += rows;
        }
        out[n++] = RuleScore{LinkRule::offset, k, linked};
    }
    return n;
}

}  // namespace normalize::core
