#include "model/units.h"

#include <cstdint>

#include "automate/job.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;

TEST(ParseDurationTest, AcceptsGoStyleDurations) {
  EXPECT_EQ(*ParseDuration("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDuration("2h"), absl::Hours(2));
  EXPECT_EQ(*ParseDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0s"), absl::ZeroDuration());
  EXPECT_EQ(*ParseDuration("250us"), absl::Microseconds(250));
}

TEST(ParseDurationTest, RejectsBareNumbersSignsAndJunk) {
  for (const char* text : {"", "90", "0", "-5s", "+5s", "inf", "5 s", " 5s", "5s ", "1h30", "5d",
                           "s", "1e3s", "9999999999999h"}) {
    EXPECT_THAT(ParseDuration(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                              "must be a duration like 90s, 2h, 1h30m"))
        << text;
  }
}

TEST(ParseByteSizeTest, AcceptsDecimalAndBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096);
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("512k"), 512000);
  EXPECT_EQ(*ParseByteSize("512K"), 512000);
  EXPECT_EQ(*ParseByteSize("512Ki"), 512 * 1024);
  EXPECT_EQ(*ParseByteSize("100M"), 100000000);
  EXPECT_EQ(*ParseByteSize("100Mi"), 100 * 1024 * 1024);
  EXPECT_EQ(*ParseByteSize("1G"), 1000000000);
  EXPECT_EQ(*ParseByteSize("1Gi"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("2T"), 2000000000000);
  EXPECT_EQ(*ParseByteSize("2Ti"), int64_t{2} << 40);
}

TEST(ParseByteSizeTest, RejectsNegativeFractionsOverflowAndUnknownUnits) {
  for (const char* text : {"", "-1", "+1", "1.5Gi", "1 Mi", "Mi", "1MB", "1mi", "1m", "10Pi",
                           "9223372036854775808", "9000000Ti", "0x10"}) {
    EXPECT_THAT(ParseByteSize(text),
                StatusIs(absl::StatusCode::kInvalidArgument, "must be a byte size like"))
        << text;
  }
}

TEST(UnitsTest, FormatsRoundTrip) {
  for (absl::Duration d : {absl::ZeroDuration(), absl::Seconds(90), absl::Minutes(90),
                           absl::Milliseconds(1500), absl::Nanoseconds(1), absl::Hours(10000)}) {
    std::string text = internal::FormatDuration(d);
    EXPECT_EQ(*ParseDuration(text), d) << text;
    EXPECT_EQ(internal::FromProtoDuration(internal::ToProtoDuration(d)), d) << text;
  }
  for (int64_t b : {int64_t{0}, int64_t{4096}, int64_t{1000}, int64_t{100} << 20, int64_t{12345},
                    int64_t{3} << 40}) {
    EXPECT_EQ(*ParseByteSize(internal::FormatByteSize(b)), b);
  }
  EXPECT_EQ(internal::FormatByteSize(int64_t{100} << 20), "100Mi");
  EXPECT_EQ(internal::FormatDuration(absl::Minutes(90)), "1h30m");
}

TEST(UnitsTest, ProtoDurationValidity) {
  google::protobuf::Duration d;
  d.set_seconds(1);
  d.set_nanos(-1);
  EXPECT_FALSE(internal::IsValidProtoDuration(d));
  d.set_nanos(5);
  EXPECT_TRUE(internal::IsValidProtoDuration(d));
  d.set_nanos(1000000000);
  EXPECT_FALSE(internal::IsValidProtoDuration(d));
}

}  // namespace
}  // namespace automate
