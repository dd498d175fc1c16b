#include "engine/backoff.h"

#include "gtest/gtest.h"
#include "util/proto_time.h"

namespace automate::internal {
namespace {

TEST(BackoffTest, ExponentialWithJitterAndCap) {
  v1::RetryPolicy policy;
  policy.set_max_attempts(10);
  *policy.mutable_initial_backoff() = ToProto(absl::Seconds(10));
  *policy.mutable_max_backoff() = ToProto(absl::Seconds(60));
  absl::BitGen gen;
  for (int i = 0; i < 100; ++i) {
    absl::Duration d2 = RetryDelay(policy, 2, gen);
    EXPECT_GE(d2, absl::Seconds(5));
    EXPECT_LE(d2, absl::Seconds(10));
    absl::Duration d3 = RetryDelay(policy, 3, gen);
    EXPECT_GE(d3, absl::Seconds(10));
    EXPECT_LE(d3, absl::Seconds(20));
    absl::Duration d9 = RetryDelay(policy, 9, gen);
    EXPECT_GE(d9, absl::Seconds(30));
    EXPECT_LE(d9, absl::Seconds(60));
  }
}

TEST(BackoffTest, Defaults) {
  v1::RetryPolicy policy;
  EXPECT_EQ(MaxAttempts(policy), 1);
  absl::BitGen gen;
  absl::Duration d = RetryDelay(policy, 2, gen);
  EXPECT_GE(d, kDefaultInitialBackoff / 2);
  EXPECT_LE(d, kDefaultInitialBackoff);
}

}  // namespace
}  // namespace automate::internal
