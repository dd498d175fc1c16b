#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/engine_fixture.h"

namespace automate_testing {
namespace {

namespace v1 = automate::v1;

// The jobs measure their own concurrency: each one creates a file named after
// its execution in a shared directory, counts the files, and removes its own.
TEST_F(EngineTest, PerJobLimitOfTwoHoldsUnder200Submissions) {
  std::string slots = dir_.Join("slots");
  std::string counts = dir_.Join("counts");
  Apply(absl::StrCat(R"(
name: limited
executor:
  local:
    command: ["/bin/sh", "-c", "touch )", slots, R"(/$AUTOMATE_EXECUTION_ID; ls )", slots,
                     R"( | wc -l >> )", counts, R"(; sleep 0.01; rm )", slots, R"(/$AUTOMATE_EXECUTION_ID"]
concurrency: {limit: 2, policy: queue}
)"));
  Apply("name: other\nexecutor: {local: {command: [\"true\"]}}\n");
  ASSERT_EQ(::mkdir(slots.c_str(), 0700), 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    auto exec = engine_->Submit({.job = "limited"});
    ASSERT_TRUE(exec.ok()) << exec.status();
    ids.push_back(exec->id());
  }
  // Another job is not held up by the limited one.
  auto other = engine_->Submit({.job = "other"});
  ASSERT_TRUE(other.ok());
  auto other_done = engine_->Wait(other->id(), absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(other_done.ok());
  EXPECT_EQ(other_done->state(), v1::SUCCEEDED);
  for (const std::string& id : ids) {
    auto done = engine_->Wait(id, absl::Now() + absl::Seconds(120));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::SUCCEEDED);
  }
  std::vector<std::string> lines = absl::StrSplit(ReadFileOrDie(counts), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 200u);
  int max = 0;
  for (auto& line : lines) max = std::max(max, std::stoi(line));
  EXPECT_LE(max, 2);
  EXPECT_GE(max, 1);
}

TEST_F(EngineTest, ForbidPolicyRefusesWhileAtLimit) {
  Apply(R"(
name: exclusive
executor: {local: {command: ["sleep", "1000"]}}
concurrency: {limit: 1, policy: forbid}
)");
  auto first = engine_->Submit({.job = "exclusive"});
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(engine_->Submit({.job = "exclusive"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "forbid"));
  AUTOMATE_ASSERT_OK(engine_->Cancel(first->id()));
  ASSERT_TRUE(engine_->Wait(first->id(), absl::Now() + absl::Seconds(30)).ok());
  auto again = engine_->Submit({.job = "exclusive"});
  ASSERT_TRUE(again.ok()) << again.status();
  AUTOMATE_ASSERT_OK(engine_->Cancel(again->id()));
}

TEST_F(EngineTest, ReplacePolicyCancelsTheRunningOne) {
  Apply(R"(
name: latest-wins
executor: {local: {command: ["sleep", "1000"]}}
concurrency: {limit: 1, policy: replace}
)");
  auto first = engine_->Submit({.job = "latest-wins"});
  ASSERT_TRUE(first.ok());
  auto second = engine_->Submit({.job = "latest-wins"});
  ASSERT_TRUE(second.ok());
  auto first_done = engine_->Wait(first->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(first_done.ok());
  EXPECT_EQ(first_done->state(), v1::CANCELLED);
  EXPECT_NE(first_done->error().find(second->id()), std::string::npos);
  AUTOMATE_ASSERT_OK(engine_->Cancel(second->id()));
}

TEST_F(EngineTest, PriorityOrdersTheQueue) {
  OpenEngine(/*max_running=*/1);
  std::string order = dir_.Join("order");
  std::string gate = dir_.Join("gate");
  Apply(absl::StrCat(R"(
name: gatekeeper
executor: {local: {command: ["/bin/sh", "-c", "while [ ! -e )", gate, R"( ]; do sleep 0.01; done"]}}
---
name: low
executor: {local: {command: ["/bin/sh", "-c", "echo low >> )", order, R"("]}}
priority: 0
---
name: high
executor: {local: {command: ["/bin/sh", "-c", "echo high >> )", order, R"("]}}
priority: 10
)"));
  auto gatekeeper = engine_->Submit({.job = "gatekeeper"});
  auto low = engine_->Submit({.job = "low"});
  auto high = engine_->Submit({.job = "high"});
  ASSERT_TRUE(gatekeeper.ok() && low.ok() && high.ok());
  WriteFileOrDie(gate, "");
  ASSERT_TRUE(engine_->Wait(low->id(), absl::Now() + absl::Seconds(30)).ok());
  ASSERT_TRUE(engine_->Wait(high->id(), absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(ReadFileOrDie(order), "high\nlow\n");
}

}  // namespace
}  // namespace automate_testing
