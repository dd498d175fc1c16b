#include <set>
#include <string>

#include "automate/execution.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

TEST(ExecutionIdTest, SortsByCreationTimeAndIsUnique) {
  absl::Time t = absl::FromUnixMillis(1767225600000);
  std::string previous;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    // Several ids per millisecond, and time moving forward now and then.
    std::string id = NewExecutionId(t + absl::Milliseconds(i / 7));
    ASSERT_EQ(id.size(), 26u);
    EXPECT_GT(id, previous);
    EXPECT_TRUE(seen.insert(id).second);
    previous = id;
  }
}

TEST(ExecutionIdTest, OlderTimeStillSortsAfter) {
  std::string a = NewExecutionId(absl::FromUnixMillis(2000000000000));
  std::string b = NewExecutionId(absl::FromUnixMillis(1000000000000));
  EXPECT_GT(b, a);  // a clock that stepped back never breaks the order
}

TEST(ExecutionStateTest, NamesRoundTrip) {
  for (int s = v1::PENDING; s <= v1::TIMED_OUT; ++s) {
    auto state = static_cast<v1::ExecutionState>(s);
    auto parsed = ParseStateName(StateName(state));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_THAT(ParseStateName("done"),
              automate_testing::StatusIs(absl::StatusCode::kInvalidArgument, "unknown state"));
  EXPECT_TRUE(IsFinal(v1::TIMED_OUT));
  EXPECT_FALSE(IsFinal(v1::QUEUED));
}

}  // namespace
}  // namespace automate
