// SqliteStore: opening, schema versions, and jobs.
#include <filesystem>

#include "gtest/gtest.h"
#include "store/migrations.h"
#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace automate {
namespace {

using ::automate_testing::BaseTime;
using ::automate_testing::SampleSpec;
using ::automate_testing::StatusIs;

class SqliteStoreJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = automate_testing::OpenStoreOrDie(automate_testing::StoreOptions(dir_));
    ASSERT_NE(store_, nullptr);
  }
  automate_testing::TempDir dir_;
  std::unique_ptr<internal::SqliteStore> store_;
};

TEST_F(SqliteStoreJobsTest, PutCreatesVersionsAndEqualSpecIsUnchanged) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job v1, store_->PutJob(SampleSpec("build"), BaseTime()));
  EXPECT_EQ(v1.version(), 1);
  EXPECT_FALSE(v1.deleted());
  // Same spec, labels inserted in the other order: still equal.
  v1::JobSpec same = SampleSpec("build");
  same.mutable_labels()->clear();
  (*same.mutable_labels())["tier"] = "2";
  (*same.mutable_labels())["team"] = "infra";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job again, store_->PutJob(same, BaseTime() + absl::Minutes(1)));
  EXPECT_EQ(again.version(), 1);
  EXPECT_EQ(again.create_time().seconds(), v1.create_time().seconds());  // the old one
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      v1::Job v2, store_->PutJob(SampleSpec("build", "bye"), BaseTime() + absl::Minutes(2)));
  EXPECT_EQ(v2.version(), 2);

  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job latest, store_->GetJob("build"));
  EXPECT_EQ(latest.version(), 2);
  EXPECT_EQ(latest.spec().executor().local().command(1), "bye");
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job old, store_->GetJob("build", 1));
  EXPECT_EQ(old.spec().executor().local().command(1), "hi");
  EXPECT_THAT(store_->GetJob("build", 3), StatusIs(absl::StatusCode::kNotFound, "version 3"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto versions, store_->ListJobVersions("build"));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version(), 1);
  EXPECT_EQ(versions[1].version(), 2);
}

TEST_F(SqliteStoreJobsTest, DeleteHidesLatestKeepsHistoryAndPutRevives) {
  AUTOMATE_ASSERT_OK(store_->PutJob(SampleSpec("a"), BaseTime()));
  AUTOMATE_ASSERT_OK(store_->PutJob(SampleSpec("b"), BaseTime()));
  AUTOMATE_ASSERT_OK(store_->DeleteJob("a", BaseTime()));
  EXPECT_THAT(store_->GetJob("a"), StatusIs(absl::StatusCode::kNotFound, "job a is deleted"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job old, store_->GetJob("a", 1));
  EXPECT_TRUE(old.deleted());
  EXPECT_THAT(store_->DeleteJob("a", BaseTime()), StatusIs(absl::StatusCode::kNotFound, "a"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto listed, store_->ListJobs());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].spec().name(), "b");

  // The same spec again after delete is a new version, not "unchanged".
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job revived, store_->PutJob(SampleSpec("a"), BaseTime()));
  EXPECT_EQ(revived.version(), 2);
  EXPECT_FALSE(revived.deleted());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(listed, store_->ListJobs());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].spec().name(), "a");
  EXPECT_EQ(listed[0].version(), 2);
}

TEST_F(SqliteStoreJobsTest, MissingJobsAreNotFound) {
  EXPECT_THAT(store_->GetJob("nope"), StatusIs(absl::StatusCode::kNotFound, "job nope"));
  EXPECT_THAT(store_->ListJobVersions("nope"), StatusIs(absl::StatusCode::kNotFound, "nope"));
  EXPECT_THAT(store_->DeleteJob("nope", BaseTime()), StatusIs(absl::StatusCode::kNotFound, "nope"));
  EXPECT_THAT(store_->GetJob("x", -1), StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
}

// Every job change moves the generation, whichever connection (or process)
// makes it; executions do not.
TEST_F(SqliteStoreJobsTest, JobsGenerationMovesWithEveryJobChangeFromAnyConnection) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t g0, store_->JobsGeneration());
  AUTOMATE_ASSERT_OK(store_->PutJob(SampleSpec("a"), BaseTime()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t g1, store_->JobsGeneration());
  EXPECT_NE(g1, g0);
  AUTOMATE_ASSERT_OK(store_->PutJob(SampleSpec("a"), BaseTime()));  // Unchanged spec.
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t same, store_->JobsGeneration());
  EXPECT_EQ(same, g1);
  v1::Execution e = automate_testing::SampleExecution("a", BaseTime());
  AUTOMATE_ASSERT_OK(store_->WriteExecutions({&e}));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(same, store_->JobsGeneration());
  EXPECT_EQ(same, g1);
  AUTOMATE_ASSERT_OK(store_->DeleteJob("a", BaseTime()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t g2, store_->JobsGeneration());
  EXPECT_NE(g2, g1);
  {
    auto other = automate_testing::OpenStoreOrDie(automate_testing::StoreOptions(dir_));
    ASSERT_NE(other, nullptr);
    AUTOMATE_ASSERT_OK(other->PutJob(SampleSpec("b"), BaseTime()));
  }
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t g3, store_->JobsGeneration());
  EXPECT_NE(g3, g2);
}

TEST_F(SqliteStoreJobsTest, JobsSurviveReopen) {
  AUTOMATE_ASSERT_OK(store_->PutJob(SampleSpec("a"), BaseTime()));
  store_.reset();
  store_ = automate_testing::OpenStoreOrDie(automate_testing::StoreOptions(dir_));
  ASSERT_NE(store_, nullptr);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job job, store_->GetJob("a"));
  EXPECT_EQ(job.create_time().seconds(), absl::ToUnixSeconds(BaseTime()));
}

TEST_F(SqliteStoreJobsTest, OpenSetsWalAndSchemaVersion) {
  auto db =
      internal::SqliteDb::Open(automate_testing::StoreOptions(dir_).path, false, absl::Seconds(1));
  ASSERT_TRUE(db.ok());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t version, (*db)->QueryInt("PRAGMA user_version"));
  EXPECT_EQ(version, internal::LatestSchemaVersion());
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
}

TEST(SqliteStoreOpenTest, NewerSchemaIsRefusedAndFileLeftByteIdentical) {
  automate_testing::TempDir dir;
  SqliteStoreOptions options = automate_testing::StoreOptions(dir);
  {
    auto store = automate_testing::OpenStoreOrDie(options);
    AUTOMATE_ASSERT_OK(store->PutJob(SampleSpec("a"), BaseTime()));
  }
  {
    auto db = internal::SqliteDb::Open(options.path, false, absl::Seconds(1));
    ASSERT_TRUE(db.ok());
    AUTOMATE_ASSERT_OK((*db)->Exec("PRAGMA user_version = 99"));
  }
  std::string before = automate_testing::ReadFileOrDie(options.path);
  EXPECT_THAT(OpenSqliteStore(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "database schema version 99 is newer than this automate supports (" +
                           std::to_string(internal::LatestSchemaVersion()) + ")"));
  EXPECT_EQ(automate_testing::ReadFileOrDie(options.path), before);
  EXPECT_FALSE(std::filesystem::exists(options.path + "-wal"));
}

TEST(SqliteStoreOpenTest, UnopenablePathIsAnErrorWithContext) {
  automate_testing::TempDir dir;
  automate_testing::WriteFileOrDie(dir.Join("file"), "x");
  SqliteStoreOptions options;
  options.path = dir.Join("file/sub/db");  // parent is a regular file
  EXPECT_THAT(OpenSqliteStore(options),
              StatusIs(absl::StatusCode::kInternal, "sqlite store: open " + options.path));
}

TEST(SqliteStoreOpenTest, GarbageFileIsDataLoss) {
  automate_testing::TempDir dir;
  SqliteStoreOptions options = automate_testing::StoreOptions(dir);
  std::filesystem::create_directories(dir.Join("data"));
  automate_testing::WriteFileOrDie(options.path, std::string(8192, 'z'));
  EXPECT_THAT(OpenSqliteStore(options), StatusIs(absl::StatusCode::kDataLoss, "sqlite store"));
}

}  // namespace
}  // namespace automate
