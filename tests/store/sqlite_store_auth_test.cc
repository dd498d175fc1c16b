// SqliteStore: API tokens and the audit log, and the schema migration that
// added them.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/migrations.h"
#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace automate {
namespace {

using ::automate_testing::BaseTime;
using ::automate_testing::StatusIs;

// Distinct 32-byte stand-ins for SHA-256 hashes.
std::string Hash(char fill) { return std::string(32, fill); }

v1::Token SampleToken(const std::string& id, const std::string& name, absl::Time t) {
  v1::Token token;
  token.set_id(id);
  token.set_name(name);
  token.set_role(v1::OPERATOR);
  token.add_groups("deploy");
  token.add_groups("db");
  *token.mutable_create_time() = internal::ToTimestamp(t);
  token.set_created_by("cli");
  return token;
}

v1::AuditEntry SampleAudit(int i) {
  v1::AuditEntry entry;
  *entry.mutable_time() = internal::ToTimestamp(BaseTime() + absl::Seconds(i));
  entry.set_actor("ci");
  entry.set_action("execution.submit");
  entry.set_target(absl::StrCat("job-", i));
  entry.set_detail(absl::StrCat("version ", i));
  entry.set_http_status(201);
  return entry;
}

class SqliteStoreAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = automate_testing::StoreOptions(dir_);
    store_ = automate_testing::OpenStoreOrDie(options_);
    ASSERT_NE(store_, nullptr);
  }
  void Reopen() {
    store_.reset();
    store_ = automate_testing::OpenStoreOrDie(options_);
    ASSERT_NE(store_, nullptr);
  }
  automate_testing::TempDir dir_;
  SqliteStoreOptions options_;
  std::unique_ptr<internal::SqliteStore> store_;
};

TEST_F(SqliteStoreAuthTest, CreateGetListRevoke) {
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tka", "ci", BaseTime()), Hash('a')));
  AUTOMATE_ASSERT_OK(
      store_->CreateToken(SampleToken("tkb", "admin", BaseTime() + absl::Seconds(1)), Hash('b')));

  AUTOMATE_ASSERT_OK_AND_ASSIGN(StoredToken got, store_->GetToken("tka"));
  EXPECT_EQ(got.token.name(), "ci");
  EXPECT_EQ(got.token.role(), v1::OPERATOR);
  ASSERT_EQ(got.token.groups_size(), 2);
  EXPECT_EQ(got.token.groups(1), "db");
  EXPECT_EQ(got.token.create_time().seconds(), absl::ToUnixSeconds(BaseTime()));
  EXPECT_EQ(got.token.created_by(), "cli");
  EXPECT_FALSE(got.token.has_revoke_time());
  EXPECT_EQ(got.secret_hash, Hash('a'));
  EXPECT_THAT(store_->GetToken("tkz"), StatusIs(absl::StatusCode::kNotFound, "token tkz"));

  // By id, then again (kept first time), then by name.
  AUTOMATE_ASSERT_OK(store_->RevokeToken("tka", BaseTime() + absl::Minutes(1)));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("tka", BaseTime() + absl::Minutes(2)));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("ci", BaseTime() + absl::Minutes(3)));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(got, store_->GetToken("tka"));
  ASSERT_TRUE(got.token.has_revoke_time());
  EXPECT_EQ(got.token.revoke_time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Minutes(1)));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("admin", BaseTime() + absl::Minutes(4)));
  EXPECT_THAT(store_->RevokeToken("nobody", BaseTime()),
              StatusIs(absl::StatusCode::kNotFound, "nobody"));

  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Token> tokens, store_->ListTokens());
  ASSERT_EQ(tokens.size(), 2u);  // Revoked ones included, oldest first.
  EXPECT_EQ(tokens[0].id(), "tka");
  EXPECT_EQ(tokens[1].id(), "tkb");
  EXPECT_EQ(tokens[1].revoke_time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Minutes(4)));
}

TEST_F(SqliteStoreAuthTest, ListTokensSortsByCreateTime) {
  AUTOMATE_ASSERT_OK(
      store_->CreateToken(SampleToken("tk2", "later", BaseTime() + absl::Hours(1)), Hash('2')));
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tk1", "earlier", BaseTime()), Hash('1')));
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tk0", "same-time", BaseTime()), Hash('0')));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Token> tokens, store_->ListTokens());
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].name(), "earlier");
  EXPECT_EQ(tokens[1].name(), "same-time");  // Same microsecond: creation order.
  EXPECT_EQ(tokens[2].name(), "later");
}

TEST_F(SqliteStoreAuthTest, DuplicateIdOrLiveNameIsRefused) {
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tka", "ci", BaseTime()), Hash('a')));
  EXPECT_THAT(store_->CreateToken(SampleToken("tkb", "ci", BaseTime()), Hash('b')),
              StatusIs(absl::StatusCode::kAlreadyExists, "name \"ci\" is taken by token tka"));
  EXPECT_THAT(store_->CreateToken(SampleToken("tka", "other", BaseTime()), Hash('b')),
              StatusIs(absl::StatusCode::kAlreadyExists, "id tka already exists"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Token> tokens, store_->ListTokens());
  EXPECT_EQ(tokens.size(), 1u);
}

TEST_F(SqliteStoreAuthTest, RevokedNameIsReusableAndRevokeByNameHitsTheLiveOne) {
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tka", "ci", BaseTime()), Hash('a')));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("ci", BaseTime() + absl::Minutes(1)));
  AUTOMATE_ASSERT_OK(
      store_->CreateToken(SampleToken("tkb", "ci", BaseTime() + absl::Minutes(2)), Hash('b')));
  // Only one live token may hold the name at a time.
  EXPECT_THAT(store_->CreateToken(SampleToken("tkc", "ci", BaseTime()), Hash('c')),
              StatusIs(absl::StatusCode::kAlreadyExists, "tkb"));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("ci", BaseTime() + absl::Minutes(3)));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(StoredToken a, store_->GetToken("tka"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(StoredToken b, store_->GetToken("tkb"));
  EXPECT_EQ(a.token.revoke_time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Minutes(1)));
  EXPECT_EQ(b.token.revoke_time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Minutes(3)));
  // Every token of the name is revoked now: revoking it again is still fine.
  AUTOMATE_EXPECT_OK(store_->RevokeToken("ci", BaseTime() + absl::Minutes(4)));
}

TEST_F(SqliteStoreAuthTest, BadTokensAreRefused) {
  v1::Token token = SampleToken("tka", "ci", BaseTime());
  EXPECT_THAT(store_->CreateToken(token, "short"),
              StatusIs(absl::StatusCode::kInvalidArgument, "secret hash has 5 bytes, want 32"));
  v1::Token no_name = token;
  no_name.clear_name();
  EXPECT_THAT(store_->CreateToken(no_name, Hash('a')),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty id or name"));
  v1::Token revoked = token;
  *revoked.mutable_revoke_time() = internal::ToTimestamp(BaseTime());
  EXPECT_THAT(store_->CreateToken(revoked, Hash('a')),
              StatusIs(absl::StatusCode::kInvalidArgument, "already revoked"));
}

TEST_F(SqliteStoreAuthTest, AuditAppendAssignsIncreasingSeqAndPagesNewestFirst) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    v1::AuditEntry entry = SampleAudit(i);
    entry.set_seq(999);  // Ignored.
    AUTOMATE_ASSERT_OK(store_->AppendAudit(&entry));
    if (!seqs.empty()) {
      EXPECT_GT(entry.seq(), seqs.back());
    }
    seqs.push_back(entry.seq());
  }
  AUTOMATE_ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(2, ""));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].seq(), seqs[4]);
  EXPECT_EQ(page.entries[0].target(), "job-4");
  EXPECT_EQ(page.entries[0].actor(), "ci");
  EXPECT_EQ(page.entries[0].action(), "execution.submit");
  EXPECT_EQ(page.entries[0].detail(), "version 4");
  EXPECT_EQ(page.entries[0].http_status(), 201);
  EXPECT_EQ(page.entries[0].time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Seconds(4)));
  EXPECT_EQ(page.entries[1].seq(), seqs[3]);
  ASSERT_FALSE(page.next_page_token.empty());

  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(2, page.next_page_token));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].seq(), seqs[2]);
  EXPECT_EQ(page.entries[1].seq(), seqs[1]);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(2, page.next_page_token));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].seq(), seqs[0]);
  EXPECT_TRUE(page.next_page_token.empty());

  // Exactly a page's worth left: no next token.
  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(5, ""));
  EXPECT_EQ(page.entries.size(), 5u);
  EXPECT_TRUE(page.next_page_token.empty());
}

// A submit and its audit record commit together, or neither does.
TEST_F(SqliteStoreAuthTest, ExecutionAndItsAuditRecordCommitTogether) {
  v1::Execution e = automate_testing::SampleExecution("a", BaseTime());
  v1::AuditEntry entry = SampleAudit(1);
  ASSERT_TRUE(store_->WriteExecutionsAudited({&e}, {&entry}).ok());
  EXPECT_EQ(e.version(), 1);
  EXPECT_GT(entry.seq(), 0);
  ASSERT_TRUE(store_->GetExecution(e.id()).ok());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(10, ""));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].seq(), entry.seq());

  // The same id again: the insert fails, and the audit record is not kept.
  v1::Execution dup = e;
  dup.set_version(0);
  v1::AuditEntry second = SampleAudit(2);
  EXPECT_THAT(store_->WriteExecutionsAudited({&dup}, {&second}),
              StatusIs(absl::StatusCode::kAlreadyExists, ""));
  EXPECT_EQ(second.seq(), 0);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(10, ""));
  EXPECT_EQ(page.entries.size(), 1u);
}

// A batch of submits and their records: one transaction, all or nothing; a
// null record is skipped.
TEST_F(SqliteStoreAuthTest, ABatchAndItsAuditRecordsCommitTogether) {
  v1::Execution a = automate_testing::SampleExecution("a", BaseTime());
  v1::Execution b = automate_testing::SampleExecution("b", BaseTime());
  v1::AuditEntry first = SampleAudit(1);
  v1::AuditEntry second = SampleAudit(2);
  ASSERT_TRUE(store_->WriteExecutionsAudited({&a, &b}, {&first, nullptr, &second}).ok());
  EXPECT_EQ(a.version(), 1);
  EXPECT_EQ(b.version(), 1);
  EXPECT_GT(second.seq(), first.seq());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(10, ""));
  EXPECT_EQ(page.entries.size(), 2u);

  // One of the batch exists already: neither execution nor any record is kept.
  v1::Execution c = automate_testing::SampleExecution("c", BaseTime());
  v1::Execution again = a;
  again.set_version(0);
  v1::AuditEntry third = SampleAudit(3);
  v1::AuditEntry fourth = SampleAudit(4);
  EXPECT_THAT(store_->WriteExecutionsAudited({&c, &again}, {&third, &fourth}),
              StatusIs(absl::StatusCode::kAlreadyExists, ""));
  EXPECT_EQ(c.version(), 0);
  EXPECT_EQ(third.seq(), 0);
  EXPECT_EQ(fourth.seq(), 0);
  EXPECT_THAT(store_->GetExecution(c.id()), StatusIs(absl::StatusCode::kNotFound, ""));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(10, ""));
  EXPECT_EQ(page.entries.size(), 2u);
}

TEST_F(SqliteStoreAuthTest, AuditOnEmptyLogIsEmpty) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(10, ""));
  EXPECT_TRUE(page.entries.empty());
  EXPECT_TRUE(page.next_page_token.empty());
}

TEST_F(SqliteStoreAuthTest, BadAuditLimitOrPageTokenIsInvalidArgument) {
  EXPECT_THAT(store_->ListAudit(0, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "limit 0 is not in 1..1000"));
  EXPECT_THAT(store_->ListAudit(1001, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, "limit 1001"));
  for (const std::string& bad :
       {std::string("!!"), std::string("garbage"), absl::WebSafeBase64Escape("audit1:x"),
        absl::WebSafeBase64Escape("audit1:-3"), absl::WebSafeBase64Escape("exec1:d:01J")}) {
    EXPECT_THAT(store_->ListAudit(10, bad),
                StatusIs(absl::StatusCode::kInvalidArgument, "malformed page token"))
        << bad;
  }
  EXPECT_THAT(store_->AppendAudit(nullptr), StatusIs(absl::StatusCode::kInvalidArgument, "null"));
}

TEST_F(SqliteStoreAuthTest, TokensAndAuditSurviveReopen) {
  AUTOMATE_ASSERT_OK(store_->CreateToken(SampleToken("tka", "ci", BaseTime()), Hash('a')));
  AUTOMATE_ASSERT_OK(store_->RevokeToken("tka", BaseTime() + absl::Minutes(1)));
  v1::AuditEntry entry = SampleAudit(1);
  AUTOMATE_ASSERT_OK(store_->AppendAudit(&entry));
  ASSERT_NO_FATAL_FAILURE(Reopen());

  AUTOMATE_ASSERT_OK_AND_ASSIGN(StoredToken got, store_->GetToken("tka"));
  EXPECT_EQ(got.secret_hash, Hash('a'));
  EXPECT_TRUE(got.token.has_revoke_time());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(10, ""));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].seq(), entry.seq());
  // Seqs keep growing across restarts.
  v1::AuditEntry next = SampleAudit(2);
  AUTOMATE_ASSERT_OK(store_->AppendAudit(&next));
  EXPECT_GT(next.seq(), entry.seq());
}

// The schema of version 1 as released, frozen here: a database created by
// that automate must open, keep its data and gain the token and audit tables.
constexpr char kSchemaVersion1[] = R"sql(
  CREATE TABLE jobs (
    name TEXT NOT NULL, version INTEGER NOT NULL, spec BLOB NOT NULL,
    create_time INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
  ) WITHOUT ROWID;
  CREATE TABLE executions (
    id TEXT PRIMARY KEY NOT NULL, job TEXT NOT NULL, state INTEGER NOT NULL,
    priority INTEGER NOT NULL, create_time INTEGER NOT NULL, update_time INTEGER NOT NULL,
    version INTEGER NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL
  );
  CREATE INDEX executions_by_job ON executions (job, id);
  CREATE INDEX executions_by_state ON executions (state, id);
  CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL, sealed BLOB NOT NULL,
    create_time INTEGER NOT NULL, update_time INTEGER NOT NULL
  ) WITHOUT ROWID;
  PRAGMA user_version = 1;
)sql";

TEST(SqliteStoreAuthMigrationTest, VersionOneDatabaseIsMigrated) {
  automate_testing::TempDir dir;
  SqliteStoreOptions options = automate_testing::StoreOptions(dir);
  {
    std::filesystem::create_directories(std::filesystem::path(options.path).parent_path());
    auto db = internal::SqliteDb::Open(options.path, /*create=*/true, absl::Seconds(1));
    ASSERT_TRUE(db.ok()) << db.status();
    AUTOMATE_ASSERT_OK((*db)->Exec(kSchemaVersion1));
    AUTOMATE_ASSERT_OK_AND_ASSIGN(
        internal::SqliteStmt insert,
        (*db)->Prepare(
            "INSERT INTO jobs (name, version, spec, create_time) VALUES (?1, 1, ?2, ?3)"));
    insert.BindText(1, "old-job")
        .BindBlob(2, automate_testing::SampleSpec("old-job").SerializeAsString())
        .Bind(3, internal::ToMicros(BaseTime()));
    AUTOMATE_ASSERT_OK(insert.Run());
  }
  auto store = automate_testing::OpenStoreOrDie(options);
  ASSERT_NE(store, nullptr);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Job job, store->GetJob("old-job"));
  EXPECT_EQ(job.version(), 1);
  AUTOMATE_ASSERT_OK(store->CreateToken(SampleToken("tka", "ci", BaseTime()), Hash('a')));
  v1::AuditEntry entry = SampleAudit(0);
  AUTOMATE_ASSERT_OK(store->AppendAudit(&entry));
  EXPECT_GT(entry.seq(), 0);

  auto db = internal::SqliteDb::Open(options.path, /*create=*/false, absl::Seconds(1));
  ASSERT_TRUE(db.ok()) << db.status();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(int64_t version, (*db)->QueryInt("PRAGMA user_version"));
  EXPECT_EQ(version, internal::LatestSchemaVersion());
}

}  // namespace
}  // namespace automate
