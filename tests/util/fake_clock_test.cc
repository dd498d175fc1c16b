#include "automate/testing/fake_clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace automate_testing {
namespace {

TEST(FakeClockTest, AdvanceMovesNow) {
  FakeClock clock;
  absl::Time start = clock.Now();
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now() - start, absl::Seconds(5));
}

TEST(FakeClockTest, AwaitReturnsFalseOnceFakeDeadlinePasses) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now() + absl::Hours(1));
  });
  while (clock.waiters() == 0) std::this_thread::yield();
  clock.Advance(absl::Hours(2));
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(FakeClockTest, AwaitReturnsTrueWhenConditionHolds) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now() + absl::Hours(1));
  });
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

}  // namespace
}  // namespace automate_testing
