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
    EXPECT_EQ(normalize_id("x-007-y-010"), "x-007-y-010");  // digits before the number: not a numbered ID
    EXPECT_EQ(normalize_id("a.00"), "a.0");  // no digit before the point: not a number
    EXPECT_NE(normalize_id("42"), normalize_id("420"));
    EXPECT_NE(normalize_id("a-1"), normalize_id("b-1"));
}

// Only a number, or a number after a prefix without digits, loses its
// leading zeros: IDs with digits inside keep them, so two different IDs
// never meet.
TEST(NormalizeId, ZerosOnlyOfANumber) {
    EXPECT_NE(normalize_id("01a20000-0000-0000-0000-000000000001"),
              normalize_id("1a020000-0000-0000-0000-000000000001"));
    EXPECT_EQ(normalize_id("01a20000-0000-0000-0000-000000000001"), "01a20000-0000-0000-0000-000000000001");
    EXPECT_EQ(normalize_id("A01-0042"), "a01-0042");
    EXPECT_EQ(normalize_id("cust_0042"), "cust_42");
    EXPECT_EQ(normalize_id("v7.000"), "v7");
}

TEST(NormalizeId, UnicodeBlanksAndBraces) {
    EXPECT_EQ(normalize_id("42\xc2\xa0"), "42");                         // trailing no-break space
    EXPECT_EQ(normalize_id("\xe3\x80\x80" "ACCT-7\xe2\x80\x83"), "acct-7");  // ideographic and em space
    EXPECT_EQ(normalize_id("\xef\xbb\xbf" "42"), "42");                    // byte order mark
    EXPECT_EQ(normalize_id("a\xe2\x80\x8b" "b"), "ab");                    // zero width space inside
    EXPECT_EQ(normalize_id("a\xc2\xa0\xc2\xa0 b"), "a b");
    EXPECT_EQ(normalize_id("{01A2-FF}"), "01a2-ff");
    EXPECT_EQ(normalize_id(" { 0042 } "), "42");
    EXPECT_EQ(normalize_id("{}"), "");
    EXPECT_EQ(normalize_id("{a"), "{a");
    // Outside UTF-8 those bytes are letters of another encoding.
    IdStyle latin;
    latin.utf8 = false;
    EXPECT_EQ(normalize_id("42\xc2\xa0", latin), "42\xc2\xa0");
}

TEST(NormalizeId, LowerCasesLettersBeyondAscii) {
    EXPECT_EQ(normalize_id("\xc3\x84RZTE-1"), "\xc3\xa4rzte-1");      // Ä
    EXPECT_EQ(normalize_id("\xc5\x81\xc3\x93" "D\xc5\xb9"), "\xc5\x82\xc3\xb3" "d\xc5\xba");  // ŁÓDŹ
    EXPECT_EQ(normalize_id("\xce\x91\xce\xa9"), "\xce\xb1\xcf\x89");  // ΑΩ
    EXPECT_EQ(normalize_id("\xd0\x9c\xd0\x98\xd0\xa0"), "\xd0\xbc\xd0\xb8\xd1\x80");  // МИР
    EXPECT_EQ(normalize_id("\xc3\x97"), "\xc3\x97");                   // × is no letter
    EXPECT_EQ(normalize_id("\xc3"), "\xc3");                             // a broken sequence stays
}

TEST(NormalizeId, KeepsCaseWhenAsked) {
    IdStyle cased;
    cased.keep_case = true;
    EXPECT_EQ(normalize_id(" 0015g00000AbCdE ", cased), "0015g00000AbCdE");
    EXPECT_NE(normalize_id("001A", cased), normalize_id("001a", cased));
    EXPECT_EQ(normalize_id("ACCT-0042", cased), "ACCT-42");
    EXPECT_EQ(normalize_id("001A"), normalize_id("001a"));
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

// Over-long IDs get a digest key, short enough for any btree index, and
// still one per ID.
TEST(StableKey, OverLongIdsAreDigested) {
    const std::string a(300, 'x'), b = std::string(299, 'x') + "y";
    const std::string ka = stable_key("account", a), kb = stable_key("account", b);
    EXPECT_EQ(ka.size(), std::string("account:").size() + kKeptPrefixBytes + 1 + 32);
    EXPECT_EQ(ka.substr(0, 8 + kKeptPrefixBytes + 1), "account:" + std::string(kKeptPrefixBytes, 'x') + "~");
    EXPECT_NE(ka, kb);
    EXPECT_EQ(ka, stable_key("account", " " + a + " "));
    // SHA-1 of 300 'x', first 32 hex digits, as sha1sum gives it.
    EXPECT_EQ(ka.substr(ka.size() - 32), "02fd68253071f895718c8d41f7ff665a");
    const std::string exact(kMaxKeyIdBytes, 'z');
    EXPECT_EQ(stable_key("account", exact), "account:" + exact);
    // The kept part ends between characters.
    std::string greek;
    for (int i = 0; i < 200; ++i)
        greek += (i == 0 ? "a" : "\xce\xb1");
    const std::string kg = stable_key("account", greek);
    const std::size_t tilde = kg.find('~');
    ASSERT_NE(tilde, std::string::npos);
    EXPECT_EQ((tilde - 8) % 2, 1u);  // 'a' and whole two-byte letters
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

TEST(FoldCategory, SpellingsOfOneValueAgree) {
    for (const char* spelling : {"past_due", "PAST-DUE", " Past  Due ", "past__due", "_past due-", "Past\xC2\xA0" "due"})
        EXPECT_EQ(fold_category(spelling), "past due") << spelling;
    EXPECT_EQ(fold_category("Cancelled"), "cancelled");
    EXPECT_EQ(fold_category("ÉCHU"), "échu");
    EXPECT_EQ(fold_category("in\xE2\x80\x8B" "active"), "inactive");
}

TEST(FoldCategory, KeepsWhatTellsValuesApart) {
    EXPECT_NE(fold_category("Tier 1"), fold_category("Tier 2"));
    EXPECT_EQ(fold_category("Tier 1"), "tier 1");
    EXPECT_EQ(fold_category("re.active"), "re.active");
    EXPECT_EQ(fold_category(" - _ "), "");
    EXPECT_EQ(fold_category(""), "");
}

}  // namespace
}  // namespace normalize::core
