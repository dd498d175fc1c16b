// SqliteStore: executions, compare-and-set, lists, cancel, group commit.
#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store_test_util.h"

namespace automate {
namespace {

using ::automate_testing::BaseTime;
using ::automate_testing::SampleExecution;
using ::automate_testing::StatusIs;

class SqliteStoreExecutionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = automate_testing::OpenStoreOrDie(automate_testing::StoreOptions(dir_));
    ASSERT_NE(store_, nullptr);
  }
  // Creates executions: job "a" for even i, "b" for odd; one second apart.
  std::vector<v1::Execution> CreateMany(int n, v1::ExecutionState state = v1::PENDING) {
    std::vector<v1::Execution> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(SampleExecution(i % 2 ? "b" : "a", BaseTime() + absl::Seconds(i), state));
      EXPECT_TRUE(store_->WriteExecutions({&out.back()}).ok());
    }
    return out;
  }
  std::vector<std::string> ListAll(ExecutionFilter filter) {
    std::vector<std::string> ids;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store_->ListExecutions(filter);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->executions.size(), static_cast<size_t>(filter.limit));
      for (const v1::Execution& e : page->executions) ids.push_back(e.id());
      if (page->next_page_token.empty()) break;
      filter.page_token = page->next_page_token;
    }
    return ids;
  }
  automate_testing::TempDir dir_;
  std::unique_ptr<internal::SqliteStore> store_;
};

TEST_F(SqliteStoreExecutionsTest, CreateUpdateAndCompareAndSet) {
  v1::Execution e = SampleExecution("a", BaseTime());
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  EXPECT_EQ(e.version(), 1);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution got, store_->GetExecution(e.id()));
  EXPECT_EQ(got.SerializeAsString(), e.SerializeAsString());

  v1::Execution stale = e;
  e.set_state(v1::RUNNING);
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  EXPECT_EQ(e.version(), 2);
  stale.set_state(v1::FAILED);
  EXPECT_THAT(store_->WriteExecutions({&stale}),
              StatusIs(absl::StatusCode::kAborted, "version 1 is stale (stored 2)"));
  EXPECT_EQ(stale.version(), 1);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(got, store_->GetExecution(e.id()));
  EXPECT_EQ(got.state(), v1::RUNNING);
  EXPECT_EQ(got.version(), 2);

  v1::Execution dup = SampleExecution("a", BaseTime());
  dup.set_id(e.id());
  EXPECT_THAT(store_->WriteExecutions({&dup}), StatusIs(absl::StatusCode::kAlreadyExists, e.id()));
  v1::Execution ghost = SampleExecution("a", BaseTime());
  ghost.set_version(3);
  EXPECT_THAT(store_->WriteExecutions({&ghost}), StatusIs(absl::StatusCode::kNotFound, ghost.id()));
  EXPECT_THAT(store_->GetExecution("nope"), StatusIs(absl::StatusCode::kNotFound, "nope"));
  v1::Execution no_id;
  EXPECT_THAT(store_->WriteExecutions({&no_id}),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty id"));
}

TEST_F(SqliteStoreExecutionsTest, BatchIsAllOrNothing) {
  v1::Execution old = SampleExecution("a", BaseTime());
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&old}));
  v1::Execution fresh = SampleExecution("a", BaseTime());
  v1::Execution stale = old;
  stale.set_version(7);
  EXPECT_THAT(store_->WriteExecutions({&fresh, &stale}),
              StatusIs(absl::StatusCode::kAborted, old.id()));
  EXPECT_EQ(fresh.version(), 0);  // versions only move on success
  EXPECT_THAT(store_->GetExecution(fresh.id()), StatusIs(absl::StatusCode::kNotFound, ""));
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&fresh, &old}));
  EXPECT_EQ(fresh.version(), 1);
  EXPECT_EQ(old.version(), 2);
}

TEST_F(SqliteStoreExecutionsTest, CancelRequestIsSeparateFromTheVersionedRecord) {
  v1::Execution e = SampleExecution("a", BaseTime(), v1::RUNNING);
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  AUTOMATE_ASSERT_OK(store_->RequestCancel(e.id()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution got, store_->GetExecution(e.id()));
  EXPECT_TRUE(got.cancel_requested());
  EXPECT_EQ(got.version(), 1);  // the engine's next write does not conflict

  e.set_state(v1::CANCELLED);  // e.cancel_requested() is false in the engine's copy
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(got, store_->GetExecution(e.id()));
  EXPECT_TRUE(got.cancel_requested());  // a write never clears the request
  EXPECT_TRUE(e.cancel_requested()) << "the writer's copy now says what is stored";
  EXPECT_EQ(e.version(), got.version());
  EXPECT_THAT(store_->RequestCancel(e.id()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "already cancelled"));
  EXPECT_THAT(store_->RequestCancel("nope"), StatusIs(absl::StatusCode::kNotFound, "nope"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto page, store_->ListExecutions({}));
  ASSERT_EQ(page.executions.size(), 1u);
  EXPECT_TRUE(page.executions[0].cancel_requested());
}

TEST_F(SqliteStoreExecutionsTest, ListFiltersByJobStateAndTime) {
  std::vector<v1::Execution> all = CreateMany(10);
  for (int i : {1, 4, 7}) {
    all[i].set_state(v1::SUCCEEDED);
    AUTOMATE_ASSERT_OK(store_->WriteExecutions({&all[i]}));
  }
  ExecutionFilter filter;
  filter.job = "a";
  EXPECT_EQ(ListAll(filter), (std::vector<std::string>{all[8].id(), all[6].id(), all[4].id(),
                                                       all[2].id(), all[0].id()}));
  filter = {};
  filter.states = {v1::SUCCEEDED};
  filter.oldest_first = true;
  EXPECT_EQ(ListAll(filter), (std::vector<std::string>{all[1].id(), all[4].id(), all[7].id()}));
  filter = {};
  filter.since = BaseTime() + absl::Seconds(8);
  filter.states = {v1::PENDING, v1::SUCCEEDED};
  EXPECT_EQ(ListAll(filter), (std::vector<std::string>{all[9].id(), all[8].id()}));
}

TEST_F(SqliteStoreExecutionsTest, ListRejectsBadLimitAndToken) {
  ExecutionFilter filter;
  filter.limit = 0;
  EXPECT_THAT(store_->ListExecutions(filter),
              StatusIs(absl::StatusCode::kInvalidArgument, "limit 0"));
  filter.limit = 1001;
  EXPECT_THAT(store_->ListExecutions(filter),
              StatusIs(absl::StatusCode::kInvalidArgument, "1..1000"));
  filter.limit = 1;
  filter.page_token = "not a token!";
  EXPECT_THAT(store_->ListExecutions(filter),
              StatusIs(absl::StatusCode::kInvalidArgument, "malformed page token"));
  CreateMany(3);
  filter.page_token.clear();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(ExecutionPage page, store_->ListExecutions(filter));
  ASSERT_FALSE(page.next_page_token.empty());
  filter.page_token = page.next_page_token;
  filter.oldest_first = true;  // a newest-first token used the other way
  EXPECT_THAT(store_->ListExecutions(filter),
              StatusIs(absl::StatusCode::kInvalidArgument, "malformed page token"));
}

TEST_F(SqliteStoreExecutionsTest, PagesCoverEverythingOnceInOrder) {
  std::vector<v1::Execution> all = CreateMany(103);
  std::vector<std::string> ids;
  for (const v1::Execution& e : all) ids.push_back(e.id());
  ExecutionFilter filter;
  filter.limit = 10;
  filter.oldest_first = true;
  EXPECT_EQ(ListAll(filter), ids);
  filter.oldest_first = false;
  std::reverse(ids.begin(), ids.end());
  EXPECT_EQ(ListAll(filter), ids);
  filter.limit = 103;  // exactly one full page: no next token
  AUTOMATE_ASSERT_OK_AND_ASSIGN(ExecutionPage page, store_->ListExecutions(filter));
  EXPECT_EQ(page.executions.size(), 103u);
  EXPECT_TRUE(page.next_page_token.empty());
}

TEST_F(SqliteStoreExecutionsTest, ListUnfinishedIsNonFinalOldestFirst) {
  std::vector<v1::Execution> all = CreateMany(6);
  const v1::ExecutionState states[] = {v1::RUNNING, v1::SUCCEEDED, v1::QUEUED,
                                       v1::FAILED,  v1::PENDING,   v1::TIMED_OUT};
  for (int i = 0; i < 6; ++i) {
    all[i].set_state(states[i]);
    AUTOMATE_ASSERT_OK(store_->WriteExecutions({&all[i]}));
  }
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto unfinished, store_->ListUnfinished());
  ASSERT_EQ(unfinished.size(), 3u);
  EXPECT_EQ(unfinished[0].id(), all[0].id());
  EXPECT_EQ(unfinished[1].id(), all[2].id());
  EXPECT_EQ(unfinished[2].id(), all[4].id());
}

// Eight threads write concurrently; each also makes one stale write, which
// must fail alone (kAborted) while its group-mates commit.
TEST_F(SqliteStoreExecutionsTest, ConcurrentWritersAllGetCorrectResults) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::vector<v1::Execution>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        v1::Execution e = SampleExecution(absl::StrCat("job", t), BaseTime() + absl::Seconds(i));
        ASSERT_TRUE(store_->WriteExecutions({&e}).ok());
        v1::Execution stale = e;
        e.set_state(v1::RUNNING);
        ASSERT_TRUE(store_->WriteExecutions({&e}).ok());
        ASSERT_EQ(e.version(), 2);
        if (i == kPerThread / 2) {
          EXPECT_EQ(store_->WriteExecutions({&stale}).code(), absl::StatusCode::kAborted);
        }
        made[t].push_back(e);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    for (const v1::Execution& e : made[t]) {
      AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution got, store_->GetExecution(e.id()));
      EXPECT_EQ(got.version(), 2);
      EXPECT_EQ(got.state(), v1::RUNNING);
    }
  }
  const int writes = kThreads * (2 * kPerThread + 1);
  EXPECT_LE(store_->commit_count(), writes);
  // Grouping depends on timing; record it rather than assert on it (the
  // deterministic check is GroupCommitterTest).
  RecordProperty("commits", static_cast<int>(store_->commit_count()));
  RecordProperty("writes", writes);
}

TEST_F(SqliteStoreExecutionsTest, SecondStoreOnTheSameFileSeesWrites) {
  auto other = automate_testing::OpenStoreOrDie(automate_testing::StoreOptions(dir_));
  ASSERT_NE(other, nullptr);
  v1::Execution e = SampleExecution("a", BaseTime());
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution seen, other->GetExecution(e.id()));
  seen.set_state(v1::RUNNING);
  AUTOMATE_ASSERT_OK(other->WriteExecutions({&seen}));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution back, store_->GetExecution(e.id()));
  EXPECT_EQ(back.state(), v1::RUNNING);
  EXPECT_THAT(store_->WriteExecutions({&e}), StatusIs(absl::StatusCode::kAborted, "stale"));
}

}  // namespace
}  // namespace automate
