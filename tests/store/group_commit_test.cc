#include "store/group_commit.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/sqlite_db.h"
#include "util/status_macros.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using ::automate_testing::StatusIs;

class GroupCommitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDb::Open(dir_.Join("t.db"), true, absl::Seconds(5));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(db).value();
    AUTOMATE_ASSERT_OK(
        db_->Exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER PRIMARY KEY)"));
  }

  static GroupCommitter::Op Insert(int x, absl::Status then = absl::OkStatus()) {
    return [x, then](SqliteDb& db) -> absl::Status {
      AUTOMATE_RETURN_IF_ERROR(db.Exec(absl::StrCat("INSERT INTO t VALUES (", x, ")")));
      return then;
    };
  }

  int64_t Count() {
    auto n = db_->QueryInt("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(n.ok()) << n.status();
    return n.value_or(-1);
  }

  automate_testing::TempDir dir_;
  std::unique_ptr<SqliteDb> db_;
};

TEST_F(GroupCommitterTest, SingleOpCommits) {
  GroupCommitter committer(db_.get());
  AUTOMATE_EXPECT_OK(committer.Run(Insert(1)));
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(committer.commit_count(), 1);
}

TEST_F(GroupCommitterTest, FailedOpIsRolledBackAlone) {
  GroupCommitter committer(db_.get());
  EXPECT_THAT(committer.Run(Insert(1, absl::AbortedError("conflict"))),
              StatusIs(absl::StatusCode::kAborted, "conflict"));
  EXPECT_EQ(Count(), 0);
  AUTOMATE_EXPECT_OK(committer.Run(Insert(2)));
  EXPECT_EQ(Count(), 1);
}

// The first writer holds the leader role while seven more queue up; they
// must then commit together, in one transaction, and the one that fails must
// not take the others down.
TEST_F(GroupCommitterTest, WritersQueuedBehindALeaderShareOneCommit) {
  GroupCommitter committer(db_.get());
  std::atomic<bool> leader_running{false};
  std::thread leader([&] {
    absl::Status status = committer.Run([&](SqliteDb& db) -> absl::Status {
      leader_running = true;
      while (committer.queued() < 7) std::this_thread::yield();
      return db.Exec("INSERT INTO t VALUES (100)");
    });
    EXPECT_TRUE(status.ok()) << status;
  });
  while (!leader_running) std::this_thread::yield();
  std::vector<absl::Status> results(7);
  std::vector<std::thread> followers;
  for (int i = 0; i < 7; ++i) {
    absl::Status then = i == 3 ? absl::AbortedError("stale") : absl::OkStatus();
    followers.emplace_back([&, i, then] { results[i] = committer.Run(Insert(i, then)); });
  }
  leader.join();
  for (std::thread& t : followers) t.join();
  EXPECT_EQ(committer.commit_count(), 2);
  for (int i = 0; i < 7; ++i) {
    if (i == 3) {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kAborted, "stale"));
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
    }
  }
  EXPECT_EQ(Count(), 7);  // 100 and the six successful followers.
  EXPECT_EQ(*db_->QueryInt("SELECT COUNT(*) FROM t WHERE x = 3"), 0);
}

TEST_F(GroupCommitterTest, BusyDatabaseFailsTheGroupWithUnavailable) {
  auto other = SqliteDb::Open(dir_.Join("t.db"), false, absl::ZeroDuration());
  ASSERT_TRUE(other.ok());
  AUTOMATE_ASSERT_OK((*other)->Exec("BEGIN IMMEDIATE"));
  auto fast = SqliteDb::Open(dir_.Join("t.db"), false, absl::ZeroDuration());
  ASSERT_TRUE(fast.ok());
  GroupCommitter committer(fast->get());
  EXPECT_THAT(committer.Run(Insert(1)), StatusIs(absl::StatusCode::kUnavailable, "locked"));
  AUTOMATE_ASSERT_OK((*other)->Exec("ROLLBACK"));
  AUTOMATE_EXPECT_OK(committer.Run(Insert(1)));
}

}  // namespace
}  // namespace automate::internal
