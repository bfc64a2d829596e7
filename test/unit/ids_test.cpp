// Raw IDs: normalization, prefix/number parsing and stable keys.
#include "core/errors.hpp"
#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <string>

namespace normalize::core {
namespace {

TEST(NormalizeId, FormatsOfOneIdAgree) {
    for (const char* raw : {"42", "0042", " 42", "42 ", "  00042\t", "42.0", "42.000"})
        EXPECT_EQ(normalize_id(raw), "42") << "raw \"" << raw << "\"";
    EXPECT_EQ(normalize_id("ACCT-0042"), "acct-42");
    EXPECT_EQ(normalize_id("acct-42"), "acct-42");
    EXPECT_EQ(normalize_id("Cust#00005012"), "cust#5012");
}

TEST(NormalizeId, KeepsWhatIsSignificant) {
    EXPECT_EQ(normalize_id("0"), "0");
    EXPECT_EQ(normalize_id("000"), "0");
    EXPECT_EQ(normalize_id("42.5"), "42.5");
    EXPECT_EQ(normalize_id("A  B\t7"), "a b 7");
    EXPECT_EQ(normalize_id("x-007-y-010"), "x-7-y-10");
    EXPECT_EQ(normalize_id("a.00"), "a.0");  // no digit before the point: not a number
    EXPECT_NE(normalize_id("42"), normalize_id("420"));
    EXPECT_NE(normalize_id("a-1"), normalize_id("b-1"));
}

TEST(NormalizeId, BlankIsEmpty) {
    EXPECT_EQ(normalize_id(""), "");
    EXPECT_EQ(normalize_id(" \t\n "), "");
}

TEST(NormalizeId, NeverLongerThanTheRawId) {
    for (const char* raw : {"", "a", " A ", "0000", "x 0 y", "1.000", "ABC-000123-xyz"})
        EXPECT_LE(normalize_id(raw).size(), std::string(raw).size()) << raw;
}

TEST(ParseId, PrefixAndNumber) {
    IdParts p = parse_id("ACCT-0042");
    ASSERT_TRUE(p.valid);
    EXPECT_EQ(p.prefix, "ACCT-");
    EXPECT_EQ(p.number, 42);
    EXPECT_EQ(p.digits, 4);

    p = parse_id("  10000042 ");
    ASSERT_TRUE(p.valid);
    EXPECT_EQ(p.prefix, "");
    EXPECT_EQ(p.number, 10000042);

    p = parse_id("7.000");
    ASSERT_TRUE(p.valid);
    EXPECT_EQ(p.number, 7);
    EXPECT_EQ(p.digits, 1);
}

TEST(ParseId, NotAPrefixedNumber) {
    for (const char* raw : {"", "abc", "12ab", "a1b2", "42.5", "1-2", "9223372036854775808"})
        EXPECT_FALSE(parse_id(raw).valid) << raw;
    EXPECT_TRUE(parse_id("9223372036854775807").valid);
}

TEST(StableKey, KindAndNormalizedId) {
    EXPECT_EQ(stable_key("account", " 0042"), "account:42");
    EXPECT_EQ(stable_key("device", "DEV-00017"), "device:dev-17");
    EXPECT_EQ(stable_key("user_v2", "x"), "user_v2:x");
    EXPECT_EQ(stable_key("account", "   "), "");
    // The same entity spelled two ways gets one key; two entities, two keys.
    EXPECT_EQ(stable_key("account", "0042"), stable_key("account", "42 "));
    EXPECT_NE(stable_key("account", "42"), stable_key("location", "42"));
}

TEST(StableKey, RefusesABadKind) {
    for (const char* kind : {"", "Account", "1account", "acc-ount", "acc ount",
                             "a234567890123456789012345678901234567890123456789012345678901234"}) {
        try {
            stable_key(kind, "42");
            ADD_FAILURE() << "kind \"" << kind << "\" was accepted";
        } catch (const ArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find("kind must be a lower-case identifier"), std::string::npos);
            EXPECT_FALSE(e.hint().empty());
        }
    }
}

TEST(StableKey, WritesIntoTheCallersBuffer) {
    char buf[64];
    const std::size_t n = stable_key("account", "ACCT-0042", buf);
    EXPECT_EQ(std::string(buf, n), "account:acct-42");
    EXPECT_EQ(stable_key("account", " ", buf), 0u);
}

}  // namespace
}  // namespace normalize::core
