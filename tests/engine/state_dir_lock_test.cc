// StateDirLock: one dispatching engine per state dir.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "automate/engine.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate_testing {
namespace {

using automate::StateDirLock;

TEST(StateDirLockTest, OneHolderAtATimeAndReleaseLetsAnotherIn) {
  TempDir dir;
  std::string state = dir.Join("a/b");  // Created on the way.
  absl::StatusOr<StateDirLock> first = StateDirLock::Acquire(state);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(std::filesystem::exists(state + "/engine.lock"));
  EXPECT_EQ(first->path(), state + "/engine.lock");

  // flock conflicts between open file descriptions, so a second open in this
  // process stands for another process.
  absl::StatusOr<std::optional<StateDirLock>> second = StateDirLock::TryAcquire(state);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->has_value());
  absl::StatusOr<StateDirLock> third = StateDirLock::Acquire(state);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(third.status().message().find("another engine is running in " + state),
            std::string::npos)
      << third.status();
  EXPECT_EQ(third.status().message().back(), ')') << third.status();  // No advice given.
  absl::StatusOr<StateDirLock> advised = StateDirLock::Acquire(state, "try later");
  ASSERT_FALSE(advised.ok());
  EXPECT_TRUE(absl::EndsWith(advised.status().message(), "exits when idle); try later"))
      << advised.status();

  first->Release();
  second = StateDirLock::TryAcquire(state);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_FALSE(first->TryRetake());  // Taken meanwhile.
  second->reset();                   // Destroyed: released.
  EXPECT_TRUE(first->TryRetake());

  StateDirLock moved = std::move(*first);  // The moved-from one holds nothing.
  EXPECT_FALSE(StateDirLock::TryAcquire(state)->has_value());
}

TEST(StateDirLockTest, UnusableDirIsAnError) {
  TempDir dir;
  std::string file = dir.Join("file");
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  absl::StatusOr<std::optional<StateDirLock>> lock = StateDirLock::TryAcquire(file + "/state");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(lock.status().message().find(file), std::string::npos) << lock.status();
}

}  // namespace
}  // namespace automate_testing
