#include "store/migrations.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

// Migration i (0-based) moves the schema from version i to i + 1. Never edit
// a released entry: append a new one.
constexpr const char* kMigrations[] = {
    // 1: jobs with versions, executions, secrets.
    R"sql(
      CREATE TABLE jobs (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        spec BLOB NOT NULL,              -- serialized automate.v1.JobSpec
        create_time INTEGER NOT NULL,    -- unix microseconds
        deleted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, version)
      ) WITHOUT ROWID;

      CREATE TABLE executions (
        id TEXT PRIMARY KEY NOT NULL,    -- ULID: sorts by creation time
        job TEXT NOT NULL,
        state INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        version INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        data BLOB NOT NULL               -- serialized automate.v1.Execution
      );
      CREATE INDEX executions_by_job ON executions (job, id);
      CREATE INDEX executions_by_state ON executions (state, id);

      CREATE TABLE secrets (
        name TEXT PRIMARY KEY NOT NULL,
        sealed BLOB NOT NULL,            -- see secret_cipher.h
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL
      ) WITHOUT ROWID;
    )sql",
    // 2: API tokens and the audit log.
    R"sql(
      CREATE TABLE tokens (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        secret_hash BLOB NOT NULL,       -- SHA-256 of the secret; never the secret
        create_time INTEGER NOT NULL,
        revoke_time INTEGER,             -- NULL while the token is valid
        data BLOB NOT NULL               -- serialized automate.v1.Token, no revoke_time
      );
      -- A name belongs to at most one live token; revoked ones free it.
      CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoke_time IS NULL;

      -- Plain columns rather than a serialized message, so the log stays
      -- readable with the sqlite3 shell. AUTOINCREMENT: a seq is never handed
      -- out twice, even after the newest rows are deleted.
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        http_status INTEGER NOT NULL
      );
    )sql",
    // 3: a counter of job catalogue changes, kept by triggers whoever writes
    // (any process), so that a reader learns of a change with one row read.
    R"sql(
      CREATE TABLE jobs_generation (n INTEGER NOT NULL);
      INSERT INTO jobs_generation (n) VALUES (0);
      CREATE TRIGGER jobs_generation_insert AFTER INSERT ON jobs
        BEGIN UPDATE jobs_generation SET n = n + 1; END;
      CREATE TRIGGER jobs_generation_update AFTER UPDATE ON jobs
        BEGIN UPDATE jobs_generation SET n = n + 1; END;
      CREATE TRIGGER jobs_generation_delete AFTER DELETE ON jobs
        BEGIN UPDATE jobs_generation SET n = n + 1; END;
    )sql",
};

constexpr int64_t kLatest = std::size(kMigrations);

absl::StatusOr<int64_t> ReadVersion(SqliteDb& db) { return db.QueryInt("PRAGMA user_version"); }

}  // namespace

int64_t LatestSchemaVersion() { return kLatest; }

absl::Status CheckSchemaNotNewer(SqliteDb& db) {
  AUTOMATE_ASSIGN_OR_RETURN(int64_t version, ReadVersion(db));
  if (version > kLatest) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store: open ", db.path(), ": database schema version ", version,
                     " is newer than this automate supports (", kLatest, ")"));
  }
  return absl::OkStatus();
}

absl::Status ApplyMigrations(SqliteDb& db) {
  AUTOMATE_ASSIGN_OR_RETURN(int64_t version, ReadVersion(db));
  if (version == kLatest) return absl::OkStatus();
  AUTOMATE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    // Another process may have migrated while we waited for the lock.
    AUTOMATE_ASSIGN_OR_RETURN(int64_t current, ReadVersion(db));
    AUTOMATE_RETURN_IF_ERROR(CheckSchemaNotNewer(db));
    for (int64_t v = current; v < kLatest; ++v) {
      AUTOMATE_RETURN_IF_ERROR(
          Annotate(db.Exec(kMigrations[v]), absl::StrCat("migrate to version ", v + 1)));
    }
    return db.Exec(absl::StrCat("PRAGMA user_version = ", kLatest));
  }();
  if (!status.ok()) {
    db.Exec("ROLLBACK").IgnoreError();  // May fail if SQLite already rolled back.
    return status;
  }
  return db.Exec("COMMIT");
}

}  // namespace automate::internal
