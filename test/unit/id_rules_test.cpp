// Rule scoring for ID reconciliation: the scores of exact, normalized,
// number and offset rules, and which offsets are tried.
#include "core/errors.hpp"
#include "core/id_rules.hpp"
#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

std::vector<RuleScore> score(const std::vector<ReferenceValue>& refs, const std::vector<std::string_view>& targets) {
    RuleScore out[kMaxRuleScores];
    const std::size_t n = score_rules(refs, targets, out);
    return std::vector<RuleScore>(out, out + n);
}

TEST(ScoreRules, CountsRowsEachRuleLinks) {
    const std::vector<ReferenceValue> refs = {
        {"42", 5}, {" 42 ", 2}, {"0042", 4}, {"ACCT-0042", 3}, {"x", 1}, {"   ", 7}};
    const std::vector<std::string_view> targets = {"42", "43"};
    const std::vector<RuleScore> s = score(refs, targets);
    ASSERT_GE(s.size(), 3u);
    EXPECT_EQ(s[0].rule, LinkRule::exact);
    EXPECT_EQ(s[0].linked, 5);
    EXPECT_EQ(s[1].rule, LinkRule::normalized);
    EXPECT_EQ(s[1].linked, 5 + 2 + 4);       // 'acct-42', 'x' and the blank do not match
    EXPECT_EQ(s[2].rule, LinkRule::number);
    EXPECT_EQ(s[2].linked, 5 + 2 + 4 + 3);   // the prefix is not significant
}

// The scores add up rows: counts near 2^63 wrapped around to negative
// links, and a negative count subtracted. Both are refused.
TEST(ScoreRules, RefusesCountsThatAreNoneOrOverflow) {
    const std::vector<std::string_view> targets = {"1", "2"};
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    EXPECT_THROW(score({{"1", kMax}, {"2", kMax}}, targets), RangeError);
    EXPECT_THROW(score({{"1", 5}, {"2", -1}}, targets), ArgumentError);
    EXPECT_EQ(total_rows({{"1", kMax - 1}, {"2", 1}}), kMax);
    const std::vector<RuleScore> s = score({{"1", kMax - 1}, {"2", 1}}, targets);
    EXPECT_EQ(s[0].linked, kMax);
}

TEST(RuleNames, RoundTripAndUnknown) {
    for (const LinkRule r : {LinkRule::exact, LinkRule::normalized, LinkRule::number, LinkRule::offset}) {
        LinkRule parsed = LinkRule::exact;
        EXPECT_TRUE(rule_from_name(rule_name(r), parsed));
        EXPECT_EQ(parsed, r);
    }
    LinkRule parsed = LinkRule::number;
    EXPECT_FALSE(rule_from_name("soundex", parsed));
    EXPECT_FALSE(rule_from_name("", parsed));
    EXPECT_EQ(parsed, LinkRule::number);
}

TEST(ScoreRules, BlankNeverMatchesBlank) {
    const std::vector<RuleScore> s = score({{"  ", 3}}, {" ", "7"});
    EXPECT_EQ(s[1].linked, 0);
    EXPECT_EQ(s[2].linked, 0);
}

TEST(ScoreRules, FindsAConstantOffset) {
    std::vector<std::string> ref_text, target_text;
    for (int i = 0; i < 500; ++i) {
        target_text.push_back(std::to_string(i));
        if (i % 5)  // some targets have no reference
            ref_text.push_back(std::to_string(10000000 + i));
    }
    std::vector<ReferenceValue> refs;
    for (const std::string& r : ref_text)
        refs.push_back({r, 2});
    std::vector<std::string_view> targets(target_text.begin(), target_text.end());
    const std::vector<RuleScore> s = score(refs, targets);
    ASSERT_GE(s.size(), 4u);
    EXPECT_EQ(s[0].linked, 0);
    EXPECT_EQ(s[2].linked, 0);  // 10000001.. are not target numbers
    EXPECT_EQ(s[3].rule, LinkRule::offset);
    EXPECT_EQ(s[3].offset, 10000000);
    EXPECT_EQ(s[3].linked, 2 * static_cast<std::int64_t>(refs.size()));
    for (std::size_t i = 4; i < s.size(); ++i)  // near offsets link many too, never more
        EXPECT_LE(s[i].linked, s[3].linked);
}

TEST(OffsetCandidates, FrequentDifferencesFirstThenPowerOfTen) {
    // Differences of {5000, 5001} and {1, 2}, counted among the smallest and
    // again among the largest: 4999 four times, 4998 and 5000 twice each
    // (smaller first), 5001-... once is not enough; then 1000.
    EXPECT_EQ(offset_candidates({5000, 5001}, {1, 2}), (std::vector<std::int64_t>{4999, 4998, 5000, 1000}));
}

TEST(OffsetCandidates, PowerOfTenOnlyAboveEveryTarget) {
    // With one number a side, its difference is both the smallest and the
    // largest pair's: counted twice, so frequent.
    EXPECT_EQ(offset_candidates({10000042}, {42}), (std::vector<std::int64_t>{10000000}));
    EXPECT_EQ(offset_candidates({999}, {5}), (std::vector<std::int64_t>{994, 100}));
    EXPECT_EQ(offset_candidates({1000}, {5}), (std::vector<std::int64_t>{995, 1000}));
    EXPECT_EQ(offset_candidates({40}, {42}), (std::vector<std::int64_t>{-2}));
    EXPECT_TRUE(offset_candidates({}, {42}).empty());
    EXPECT_TRUE(offset_candidates({42}, {}).empty());
}

TEST(OffsetCandidates, NeverZeroAtMostSixAndTiesOrdered) {
    std::vector<std::int64_t> same = {1, 2, 3, 4, 5, 6, 7, 8};
    const std::vector<std::int64_t> c = offset_candidates(same, same);
    EXPECT_LE(c.size(), kMaxOffsetCandidates);
    // 1 and -1 occur as often as each other: the smaller one first.
    EXPECT_EQ(c, (std::vector<std::int64_t>{-1, 1, -2, 2, -3}));
}

TEST(OffsetCandidates, ExtremeNumbersDoNotOverflow) {
    constexpr std::int64_t top = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t bottom = std::numeric_limits<std::int64_t>::min();
    const std::vector<std::int64_t> c = offset_candidates({bottom, bottom + 1, top - 1, top}, {-2, -1, 1, 2});
    for (const std::int64_t k : c)
        EXPECT_NE(k, 0);
}

// Every offset score agrees with counting the matches one by one.
TEST(ScoreRules, OffsetScoresMatchABruteForceCount) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 20; ++round) {
        std::vector<std::string> ref_text, target_text;
        std::vector<std::int64_t> rows;
        const std::int64_t shift = static_cast<std::int64_t>(rng() % 1000) - 500;
        for (int i = 0; i < 300; ++i) {
            const std::int64_t t = static_cast<std::int64_t>(rng() % 2000);
            target_text.push_back("T-" + std::to_string(t));
            const std::int64_t r = rng() % 3 ? t + shift : static_cast<std::int64_t>(rng() % 4000);
            if (r >= 0) {
                ref_text.push_back(std::to_string(r));
                rows.push_back(1 + static_cast<std::int64_t>(rng() % 9));
            }
        }
        std::vector<ReferenceValue> refs;
        for (std::size_t i = 0; i < ref_text.size(); ++i)
            refs.push_back({ref_text[i], rows[i]});
        std::vector<std::string_view> targets(target_text.begin(), target_text.end());
        for (const RuleScore& s : score(refs, targets)) {
            if (s.rule != LinkRule::offset)
                continue;
            std::int64_t expected = 0;
            for (const ReferenceValue& r : refs) {
                const std::int64_t n = parse_id(r.raw).number - s.offset;
                for (const std::string_view t : targets)
                    if (parse_id(t).number == n) {
                        expected += r.rows;
                        break;
                    }
            }
            EXPECT_EQ(s.linked, expected) << "offset " << s.offset << ", round " << round;
        }
        if (shift != 0) {
            bool found = false;
            for (const RuleScore& s : score(refs, targets))
                found = found || (s.rule == LinkRule::offset && s.offset == shift);
            EXPECT_TRUE(found) << "shift " << shift << " not among the candidates, round " << round;
        }
    }
}

}  // namespace
}  // namespace normalize::core

namespace normalize::core {
namespace {

std::vector<ValueMatch> match(LinkRule rule, std::int64_t offset, const std::vector<std::string_view>& refs,
                              const std::vector<std::string_view>& ids, const std::vector<std::string_view>& keys) {
    std::vector<ValueMatch> out(refs.size());
    match_values(rule, offset, refs, ids, keys, out.data());
    return out;
}

TEST(MatchValues, SmallestKeyAmongMatchesAndTheirCount) {
    const std::vector<std::string_view> ids = {"42", "0042", "43", "ACCT-44", "  "};
    const std::vector<std::string_view> keys = {"k:b", "k:a", "k:c", "k:d", "k:e"};
    const std::vector<std::string_view> refs = {"42", " 42", "44", "10000043", "", "x"};

    std::vector<ValueMatch> m = match(LinkRule::exact, 0, refs, ids, keys);
    EXPECT_EQ(m[0].matches, 1);
    EXPECT_EQ(m[0].target, 0);
    for (std::size_t i = 1; i < refs.size(); ++i)
        EXPECT_EQ(m[i].matches, 0) << refs[i];

    m = match(LinkRule::normalized, 0, refs, ids, keys);
    EXPECT_EQ(m[0].matches, 2);  // '42' and '0042' both normalize to '42'
    EXPECT_EQ(m[0].target, 1);   // 'k:a' < 'k:b'
    EXPECT_EQ(m[1].matches, 2);
    EXPECT_EQ(m[2].matches, 0);  // 'acct-44' is not '44'
    EXPECT_EQ(m[4].matches, 0);  // blank matches nothing, not even a blank target
    EXPECT_EQ(m[4].target, -1);

    m = match(LinkRule::number, 0, refs, ids, keys);
    EXPECT_EQ(m[0].matches, 2);
    EXPECT_EQ(m[2].matches, 1);  // 44 = ACCT-44
    EXPECT_EQ(m[2].target, 3);
    EXPECT_EQ(m[5].matches, 0);

    m = match(LinkRule::offset, 10000000, refs, ids, keys);
    EXPECT_EQ(m[3].matches, 1);
    EXPECT_EQ(m[3].target, 2);
    EXPECT_EQ(m[0].matches, 0);
}

TEST(MatchValues, AgreesWithComparingEveryPair) {
    std::mt19937_64 rng(11);
    const char* const prefixes[] = {"", "0", "00", "A-", " ", "a-"};
    auto random_id = [&]() {
        return std::string(prefixes[rng() % 6]) + std::to_string(rng() % 60) + (rng() % 5 ? "" : " ");
    };
    std::vector<std::string> id_text, key_text, ref_text;
    for (int i = 0; i < 200; ++i) {
        id_text.push_back(random_id());
        key_text.push_back("key:" + std::to_string(rng() % 1000));
        ref_text.push_back(random_id());
    }
    ref_text.push_back("99999999999999999999");  // not a number: overflows int64
    const std::vector<std::string_view> ids(id_text.begin(), id_text.end());
    const std::vector<std::string_view> keys(key_text.begin(), key_text.end());
    const std::vector<std::string_view> refs(ref_text.begin(), ref_text.end());
    for (const LinkRule rule : {LinkRule::exact, LinkRule::normalized, LinkRule::number, LinkRule::offset}) {
        const std::int64_t offset = rule == LinkRule::offset ? 7 : 0;
        const std::vector<ValueMatch> m = match(rule, offset, refs, ids, keys);
        for (std::size_t r = 0; r < refs.size(); ++r) {
            std::int64_t count = 0;
            std::string_view best;
            for (std::size_t t = 0; t < ids.size(); ++t) {
                bool same = false;
                if (rule == LinkRule::exact)
                    same = refs[r] == ids[t];
                else if (rule == LinkRule::normalized)
                    same = !normalize_id(refs[r]).empty() && normalize_id(refs[r]) == normalize_id(ids[t]);
                else {
                    const IdParts a = parse_id(refs[r]), b = parse_id(ids[t]);
                    same = a.valid && b.valid && a.number - offset == b.number;
                }
                if (same && (count++ == 0 || keys[t] < best))
                    best = keys[t];
            }
            EXPECT_EQ(m[r].matches, count) << rule_name(rule) << " '" << refs[r] << "'";
            if (count > 0)
                EXPECT_EQ(keys[static_cast<std::size_t>(m[r].target)], best) << rule_name(rule) << " '" << refs[r] << "'";
            else
                EXPECT_EQ(m[r].target, -1);
        }
    }
}

}  // namespace
}  // namespace normalize::core
