#include "id_rules.hpp"

#include "errors.hpp"
#include "ids.hpp"

#include <algorithm>
#include <functional>
#include <limits>
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

bool rule_from_name(std::string_view name, LinkRule& rule) {
    for (const LinkRule r : {LinkRule::exact, LinkRule::normalized, LinkRule::number, LinkRule::offset})
        if (rule_name(r) == name) {
            rule = r;
            return true;
        }
    return false;
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

// |k|, without overflow at INT64_MIN.
std::uint64_t magnitude(std::int64_t k) {
    return k < 0 ? 0 - static_cast<std::uint64_t>(k) : static_cast<std::uint64_t>(k);
}

// A hash index over distinct keys, for lookups only: open addressing over
// one array of entry numbers, each entry's hash kept beside it. Built once,
// never grown; far fewer cache misses than a node-based map.
template <typename Key>
class FlatIndex {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    explicit FlatIndex(std::size_t capacity) {
        std::size_t size = 16;
        while (size < 2 * capacity)
            size *= 2;
        mask_ = size - 1;
        slots_.assign(size, kEmpty);
        keys_.reserve(capacity);
        hashes_.reserve(capacity);
    }
    // The entry of key, added when new (at most capacity entries).
    std::size_t insert(const Key& key) {
        const std::size_t h = std::hash<Key>{}(key);
        std::size_t slot = h & mask_;
        for (; slots_[slot] != kEmpty; slot = (slot + 1) & mask_) {
            const std::uint32_t i = slots_[slot];
            if (hashes_[i] == h && keys_[i] == key)
                return i;
        }
        slots_[slot] = static_cast<std::uint32_t>(keys_.size());
        keys_.push_back(key);
        hashes_.push_back(h);
        return keys_.size() - 1;
    }
    std::size_t find(const Key& key) const {
        const std::size_t h = std::hash<Key>{}(key);
        for (std::size_t slot = h & mask_; slots_[slot] != kEmpty; slot = (slot + 1) & mask_) {
            const std::uint32_t i = slots_[slot];
            if (hashes_[i] == h && keys_[i] == key)
                return i;
        }
        return npos;
    }
    bool contains(const Key& key) const { return find(key) != npos; }

private:
    static constexpr std::uint32_t kEmpty = 0xffffffffu;
    std::vector<Key> keys_;
    std::vector<std::size_t> hashes_;
    std::vector<std::uint32_t> slots_;
    std::size_t mask_ = 0;
};

// Every ID's normalize_id, in one buffer sized up front (a normalized ID is
// never longer than its raw one) so that views into it stay valid; an empty
// view for a blank ID.
class NormalizedIds {
public:
    NormalizedIds(const std::vector<std::string_view>& ids, IdStyle style) {
        std::size_t capacity = 0;
        for (const std::string_view id : ids)
            capacity += id.size();
        buffer_.assign(capacity, '\0');
        views_.reserve(ids.size());
        std::size_t used = 0;
        for (const std::string_view id : ids) {
            const std::size_t len = normalize_id(id, buffer_.data() + used, style);
            views_.emplace_back(buffer_.data() + used, len);
            used += len;
        }
    }
    std::string_view operator[](std::size_t i) const { return views_[i]; }

private:
    std::string buffer_;
    std::vector<std::string_view> views_;
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
        if (magnitude(a.first) != magnitude(b.first))
            return magnitude(a.first) < magnitude(b.first);
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

std::int64_t total_rows(const std::vector<ReferenceValue>& refs) {
    std::int64_t total = 0;
    for (const ReferenceValue& r : refs) {
        if (r.rows < 0)
            throw ArgumentError("ref_rows must not be negative, got " + std::to_string(r.rows),
                                "Give every reference value its row count, as value_counts does.");
        if (__builtin_add_overflow(total, r.rows, &total))
            throw RangeError("ref_rows add up to more than " +
                                 std::to_string(std::numeric_limits<std::int64_t>::max()),
                             "Pass the rows of each distinct value, as value_counts gives them.");
    }
    return total;
}

std::size_t score_rules(const std::vector<ReferenceValue>& refs,
                        const std::vector<std::string_view>& targets, RuleScore* out, IdStyle style) {
    total_rows(refs);
    // The targets' numbers are kept sorted (the offset candidates need them
    // so) and searched by bisection.
    FlatIndex<std::string_view> raw_set(targets.size()), norm_set(targets.size());
    const NormalizedIds target_norms(targets, style);
    std::vector<std::int64_t> target_num;
    target_num.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
        raw_set.insert(targets[i]);
        if (!target_norms[i].empty())
            norm_set.insert(target_norms[i]);
        const IdParts parts = parse_id(targets[i], style);
        if (parts.valid)
            target_num.push_back(parts.number);
    }
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
        norm.resize(normalize_id(r.raw, norm.data(), style));
        if (!norm.empty() && norm_set.contains(norm))
            normalized += r.rows;
        const IdParts parts = parse_id(r.raw, style);
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

namespace {

// Groups the targets by the key a rule compares and matches each reference
// value's key: per group, how many targets and the one with the smallest
// target key.
template <typename Key, typename KeyOf>
void match_by(KeyOf key_of, const std::vector<std::string_view>& refs, std::size_t n_targets,
              const std::vector<std::string_view>& target_keys, ValueMatch* out) {
    FlatIndex<Key> groups(n_targets);
    std::vector<ValueMatch> group_match;
    group_match.reserve(n_targets);
    Key key{};
    for (std::size_t i = 0; i < n_targets; ++i) {
        if (!key_of(false, i, key))
            continue;
        const std::size_t g = groups.insert(key);
        if (g == group_match.size())
            group_match.push_back(ValueMatch{static_cast<std::int64_t>(i), 0});
        ValueMatch& m = group_match[g];
        ++m.matches;
        if (target_keys[i] < target_keys[static_cast<std::size_t>(m.target)])
            m.target = static_cast<std::int64_t>(i);
    }
    for (std::size_t i = 0; i < refs.size(); ++i) {
        std::size_t g = FlatIndex<Key>::npos;
        if (key_of(true, i, key))
            g = groups.find(key);
        out[i] = g == FlatIndex<Key>::npos ? ValueMatch{-1, 0} : group_match[g];
    }
}

}  // namespace

void match_values(LinkRule rule, std::int64_t offset, const std::vector<std::string_view>& refs,
                  const std::vector<std::string_view>& target_ids,
                  const std::vector<std::string_view>& target_keys, ValueMatch* out, IdStyle style) {
    const std::size_t n_targets = std::min(target_ids.size(), target_keys.size());
    switch (rule) {
        case LinkRule::exact:
            match_by<std::string_view>(
                [&](bool is_ref, std::size_t i, std::string_view& key) {
                    key = is_ref ? refs[i] : target_ids[i];
                    return true;
                },
                refs, n_targets, target_keys, out);
            return;
        case LinkRule::normalized: {
            const NormalizedIds ref_norms(refs, style), target_norms(target_ids, style);
            match_by<std::string_view>(
                [&](bool is_ref, std::size_t i, std::string_view& key) {
                    key = is_ref ? ref_norms[i] : target_norms[i];
                    return !key.empty();
                },
                refs, n_targets, target_keys, out);
            return;
        }
        case LinkRule::number:
        case LinkRule::offset: {
            const std::int64_t shift = rule == LinkRule::offset ? offset : 0;
            match_by<std::int64_t>(
                [&](bool is_ref, std::size_t i, std::int64_t& key) {
                    const IdParts parts = parse_id(is_ref ? refs[i] : target_ids[i], style);
                    if (!parts.valid)
                        return false;
                    if (!is_ref)
                        key = parts.number;
                    return !is_ref || !__builtin_sub_overflow(parts.number, shift, &key);
                },
                refs, n_targets, target_keys, out);
            return;
        }
    }
}

}  // namespace normalize::core
