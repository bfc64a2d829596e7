// errors.hpp: ArgumentError, format_number, and interrupts (poll_interrupt
// and the polling inside ks_test).
#include "test_helpers.hpp"

#include "core/errors.hpp"
#include "core/ks_test.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace normalize::core {
namespace {

using test::kInf;
using test::kNaN;
using test::make;
using test::sample;

TEST(ArgumentError, CarriesMessageHintAndDetail) {
    const ArgumentError e("sd must be positive, got -1", "Pass a positive sd.", "Some detail.");
    EXPECT_STREQ(e.what(), "sd must be positive, got -1");
    EXPECT_EQ(e.hint(), "Pass a positive sd.");
    EXPECT_EQ(e.detail(), "Some detail.");
    EXPECT_TRUE(ArgumentError("m", "h").detail().empty());
    // The glue catches it as std::invalid_argument.
    EXPECT_THROW(throw ArgumentError("m", "h"), std::invalid_argument);
}

TEST(FormatNumber, LikePostgresFloat8) {
    EXPECT_EQ(format_number(kNaN), "NaN");
    EXPECT_EQ(format_number(-kNaN), "NaN");
    EXPECT_EQ(format_number(kInf), "Infinity");
    EXPECT_EQ(format_number(-kInf), "-Infinity");
    EXPECT_EQ(format_number(0.1), "0.1");
    EXPECT_EQ(format_number(0), "0");
    EXPECT_EQ(format_number(-1), "-1");
    EXPECT_EQ(format_number(4.5), "4.5");
    EXPECT_EQ(format_number(123456), "123456");
    EXPECT_EQ(format_number(1e16), "1e+16");
    EXPECT_EQ(format_number(1.5e-7), "1.5e-07");
}

bool never() { return false; }
bool always() { return true; }

int g_calls = 0;
// False on the first call, true from the second on: only a loop that polls
// again after it has started can see the request.
bool from_second_call() { return ++g_calls >= 2; }

TEST(Interrupt, PollInterrupt) {
    EXPECT_NO_THROW(poll_interrupt(nullptr));
    EXPECT_NO_THROW(poll_interrupt(&never));
    EXPECT_THROW(poll_interrupt(&always), Interrupted);
    try {
        poll_interrupt(&always);
    } catch (const Interrupted& e) {
        EXPECT_STREQ(e.what(), "interrupted");
    }
}

TEST(Interrupt, KsTestStopsWhenAsked) {
    const Distribution d = make(Family::Normal, {0, 1});
    std::vector<double> x = sample(d, 1, 200000);

    std::vector<double> copy = x;
    EXPECT_THROW(ks_test(copy.data(), copy.size(), d, &always), Interrupted);

    // A request that arrives after the loop has started is still seen.
    g_calls = 0;
    copy = x;
    EXPECT_THROW(ks_test(copy.data(), copy.size(), d, &from_second_call), Interrupted);
    EXPECT_GE(g_calls, 2);

    // With nothing asked, the same run completes, and polls more than once.
    g_calls = -1000000;
    copy = x;
    const auto counting = [] { ++g_calls; return false; };
    const KsResult r = ks_test(copy.data(), copy.size(), d, +counting);
    EXPECT_EQ(r.n, 200000);
    EXPECT_GE(g_calls - -1000000, 2);
    EXPECT_NO_THROW(ks_test(copy.data(), copy.size(), d, &never));
    EXPECT_NO_THROW(ks_test(copy.data(), copy.size(), d, nullptr));
}

}  // namespace
}  // namespace normalize::core
