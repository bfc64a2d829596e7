// Scoring the rules that could link a reference column (a subscription's
// account_id, say) to the IDs of its target entity: for each rule, how many
// of the column's rows it would link. Rule discovery runs on the distinct
// values of the column with their row counts, so a million rows cost what
// their distinct values cost.
#pragma once
#include "cpp_only.hpp"

#include "ids.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace normalize::core {

enum class LinkRule { exact, normalized, number, offset };

// The SQL spelling of a rule: "exact", "normalized", "number", "offset".
std::string_view rule_name(LinkRule rule);
// The rule spelled name; false when there is none.
bool rule_from_name(std::string_view name, LinkRule& rule);

struct ReferenceValue {
    std::string_view raw;  // never NULL: the caller leaves NULL references out
    std::int64_t rows;     // how many source rows carry it
};

struct RuleScore {
    LinkRule rule;
    std::int64_t offset;  // reference number - target number; 0 unless offset
    std::int64_t linked;  // rows whose value the rule matches to some target
};

// Offset candidates are looked for among the differences between the
// smallest (and the largest) distinct numbers on both sides: this many of
// each. A constant offset shows up as one difference repeated.
inline constexpr std::size_t kOffsetProbe = 200;
// At most this many frequent differences, and the power of ten below the
// smallest reference when every reference lies above every target.
inline constexpr std::size_t kMaxOffsetCandidates = 6;
// exact, normalized, number, then the offsets.
inline constexpr std::size_t kMaxRuleScores = 3 + kMaxOffsetCandidates;

// The offsets worth scoring, given both sides' distinct numbers sorted
// ascending: up to five differences that occur at least twice among the
// pairs of the kOffsetProbe smallest (and, separately, largest) numbers of
// each side, most frequent first, then smaller in magnitude, then smaller;
// zero is never one. Then, when the smallest reference is positive and
// above the largest target, the largest power of ten not above it (the
// "10000000 + id" pattern), unless already listed.
std::vector<std::int64_t> offset_candidates(const std::vector<std::int64_t>& refs,
                                            const std::vector<std::int64_t>& targets);

// The rows of all reference values together, which no score can exceed.
// Throws ArgumentError for a negative count, and RangeError when the counts
// add up to more than int64 holds: the scores, added up the same way, would
// wrap around and come out negative.
std::int64_t total_rows(const std::vector<ReferenceValue>& refs);

// Scores exact (byte-equal raw IDs), normalized (equal normalize_id, blank
// never matches), number (equal parse_id numbers) and every offset
// candidate (reference number - offset equals a target number) over refs,
// against the raw IDs of the targets. Writes at most kMaxRuleScores scores
// to out, in that order, and returns how many. Allocates while it runs and
// frees everything before it returns. Checks the counts with total_rows.
// style is the target entity's (see IdStyle): it reads both sides.
std::size_t score_rules(const std::vector<ReferenceValue>& refs,
                        const std::vector<std::string_view>& targets, RuleScore* out,
                        IdStyle style = {});

// What one reference value links to under a rule: how many targets match
// it, and which of them has the smallest key (byte order); -1 when none.
struct ValueMatch {
    std::int64_t target;
    std::int64_t matches;
};

// Matches every reference value against the targets under one rule (offset
// only for LinkRule::offset): exact compares raw IDs, normalized their
// normalize_id (blank matches nothing), number their parse_id numbers, and
// offset the reference's number minus offset with the target's. target_ids
// and target_keys run in parallel. Writes refs.size() matches to out.
void match_values(LinkRule rule, std::int64_t offset, const std::vector<std::string_view>& refs,
                  const std::vector<std::string_view>& target_ids,
                  const std::vector<std::string_view>& target_keys, ValueMatch* out,
                  IdStyle style = {});

}  // namespace normalize::core
