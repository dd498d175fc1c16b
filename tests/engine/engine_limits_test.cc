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

// A batch: every request checked before anything is stored; one bad request
// fails the whole batch, named by its index.
TEST_F(EngineTest, SubmitBatchStoresAllOrNothing) {
  Apply(R"(
name: fanout
executor: {local: {command: ["/bin/sh", "-c", "echo \"target $TARGET\""]}}
params:
  - {name: TARGET, required: true, pattern: "^[a-z0-9-]+$"}
)");
  std::vector<automate::SubmitRequest> requests;
  for (int i = 0; i < 20; ++i) {
    requests.push_back({.job = "fanout", .args = {{"TARGET", absl::StrCat("host-", i)}}});
  }
  requests[7].args["TARGET"] = "Bad Host";
  requests[7].args["EXTRA"] = "1";  // Two problems: a line each, both with the index.
  absl::Status bad = engine_->SubmitBatch(requests).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> lines = absl::StrSplit(bad.message(), '\n');
  ASSERT_EQ(lines.size(), 2u) << bad;
  EXPECT_THAT(lines[0], ::testing::StartsWith("requests[7]: "));
  EXPECT_THAT(lines[1], ::testing::StartsWith("requests[7]: "));
  EXPECT_THAT(bad.message(), ::testing::HasSubstr("TARGET"));
  EXPECT_THAT(bad.message(), ::testing::HasSubstr("EXTRA"));
  requests[7].args.erase("EXTRA");
  requests[7].args["TARGET"] = "host-7";
  requests[12].job = "nosuch";
  EXPECT_THAT(engine_->SubmitBatch(requests),
              StatusIs(absl::StatusCode::kNotFound, "requests[12]: job \"nosuch\" not found"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::ExecutionPage page, engine_->ListExecutions({}));
  EXPECT_TRUE(page.executions.empty());

  requests[12].job = "fanout";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Execution> execs, engine_->SubmitBatch(requests));
  ASSERT_EQ(execs.size(), 20u);
  for (size_t i = 0; i < execs.size(); ++i) {
    EXPECT_EQ(execs[i].args().at("TARGET"), absl::StrCat("host-", i));
    EXPECT_EQ(execs[i].version(), 1) << "durable when returned";
    if (i > 0) {
      EXPECT_LT(execs[i - 1].id(), execs[i].id()) << "ids in request order";
    }
  }
  for (const v1::Execution& exec : execs) {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution done,
                                  engine_->Wait(exec.id(), absl::Now() + absl::Seconds(60)));
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
    EXPECT_EQ(ReadLog(exec.id()), absl::StrCat("target ", exec.args().at("TARGET"), "\n"));
  }
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Execution> none, engine_->SubmitBatch({}));
  EXPECT_TRUE(none.empty());
  std::vector<automate::SubmitRequest> too_many(automate::Engine::kMaxSubmitBatch + 1,
                                                automate::SubmitRequest{.job = "fanout"});
  EXPECT_THAT(engine_->SubmitBatch(too_many),
              StatusIs(absl::StatusCode::kInvalidArgument, "at most 1000"));
}

// A forbid limit counts the batch's own earlier requests of the job.
TEST_F(EngineTest, SubmitBatchCountsItsOwnRequestsAgainstAForbidLimit) {
  Apply(R"(
name: pair
executor: {local: {command: ["sleep", "1000"]}}
concurrency: {limit: 2, policy: forbid}
---
name: free
executor: {local: {command: ["true"]}}
)");
  std::vector<automate::SubmitRequest> three = {{.job = "pair"}, {.job = "free"}, {.job = "pair"},
                                                {.job = "pair"}};
  EXPECT_THAT(engine_->SubmitBatch(three),
              StatusIs(absl::StatusCode::kFailedPrecondition, "requests[3]: "));
  three.pop_back();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Execution> execs, engine_->SubmitBatch(three));
  ASSERT_EQ(execs.size(), 3u);
  EXPECT_THAT(engine_->SubmitBatch({{.job = "pair"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "requests[0]: "));
  for (const v1::Execution& exec : execs) {
    if (exec.job() == "pair") {
      AUTOMATE_ASSERT_OK(engine_->Cancel(exec.id()));
    }
  }
  for (const v1::Execution& exec : execs) {
    ASSERT_TRUE(engine_->Wait(exec.id(), absl::Now() + absl::Seconds(30)).ok());
  }
}

// Within one priority, a batch queues in request order.
TEST_F(EngineTest, SubmitBatchQueuesInRequestOrder) {
  OpenEngine(/*max_running=*/1);
  std::string out = absl::StrCat(dir_.path(), "/order");
  Apply(absl::StrCat(R"(
name: append
executor: {local: {command: ["/bin/sh", "-c", "echo $N >> )", out, R"("]}}
params: [{name: N, required: true}]
)"));
  std::vector<automate::SubmitRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back({.job = "append", .args = {{"N", absl::StrCat(i)}}});
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Execution> execs, engine_->SubmitBatch(requests));
  for (const v1::Execution& exec : execs) {
    ASSERT_TRUE(engine_->Wait(exec.id(), absl::Now() + absl::Seconds(60)).ok());
  }
  EXPECT_EQ(ReadFileOrDie(out), "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
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
