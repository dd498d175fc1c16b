// Durable state: job versions, executions with their attempts, secrets, API
// tokens and the audit log.
//
// The Store is the engine's only memory that survives a restart. SQLite is the
// embedded implementation (OpenSqliteStore); a shared PostgreSQL store comes
// later behind the same interface. Logs live in a LogStore (automate/log.h).
//
// Writes are durable when they return. Execution records carry a version: an
// update is a compare-and-set against it, so two writers never overwrite each
// other silently.
//
// Thread-safety: implementations are thread-safe, and concurrent writes are
// grouped into shared transactions (one fsync for many changes).
#ifndef AUTOMATE_STORE_H_
#define AUTOMATE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/export.h"
#include "automate/v1/api.pb.h"
#include "automate/v1/execution.pb.h"
#include "automate/v1/job.pb.h"

namespace automate {

struct ExecutionFilter {
  std::string job;                          // Empty: all jobs.
  std::vector<v1::ExecutionState> states;   // Empty: all states.
  absl::Time since = absl::InfinitePast();  // Created at or after.
  int limit = 100;                          // 1..1000.
  std::string page_token;                   // From a previous page.
  bool oldest_first = false;                // Default: newest first.
  bool cancel_requested_only = false;       // Only those with a cancel request.
};

struct ExecutionPage {
  std::vector<v1::Execution> executions;
  std::string next_page_token;  // Empty on the last page.
};

// A token's record with the SHA-256 of its secret (32 raw bytes). Only
// GetToken returns the hash: it is what a presented secret is checked against.
struct StoredToken {
  v1::Token token;
  std::string secret_hash;
};

struct AuditPage {
  std::vector<v1::AuditEntry> entries;  // Newest first.
  std::string next_page_token;          // Empty on the last page.
};

class AUTOMATE_EXPORT Store {
 public:
  virtual ~Store() = default;

  // --- Jobs ---------------------------------------------------------------
  // Stores `spec` as the next version of its job, unless it equals the latest
  // version (then that one is returned unchanged). A deleted job comes back
  // with a new version. REQUIRES: `spec` is valid (ValidateJobSpec).
  virtual absl::StatusOr<v1::Job> PutJob(const v1::JobSpec& spec, absl::Time now) = 0;
  // `version` 0 is the latest. kNotFound if there is no such job or version;
  // a deleted job's latest is kNotFound, but its old versions stay readable.
  virtual absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version = 0) = 0;
  // The latest version of every job that is not deleted, by name.
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobs() = 0;
  // Every version of one job, oldest first. kNotFound if it never existed.
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) = 0;
  // Marks the job deleted; its versions and executions stay. kNotFound.
  virtual absl::Status DeleteJob(absl::string_view name, absl::Time now) = 0;
  // A number that changes whenever a job is stored or deleted, by any
  // process: a reader caching ListJobs() compares it to know it is current.
  virtual absl::StatusOr<int64_t> JobsGeneration() = 0;

  // --- Executions ---------------------------------------------------------
  // Writes all of `batch` in one transaction, or nothing. An execution with
  // version 0 is created (kAlreadyExists if its id exists); others replace
  // the stored record if its version matches (kAborted otherwise). On success
  // every execution's version is incremented in place, and its
  // cancel_requested set to the stored flag (which RequestCancel sets and
  // writes leave as it is), so that it equals the stored record.
  virtual absl::Status WriteExecutions(const std::vector<v1::Execution*>& batch) = 0;
  // WriteExecutions(batch) and AppendAudit() of each of `audits` in the one
  // transaction: all are durable or none is (one commit for submits and
  // their records). Null entries in `audits` are skipped.
  virtual absl::Status WriteExecutionsAudited(const std::vector<v1::Execution*>& batch,
                                              const std::vector<v1::AuditEntry*>& audits) = 0;
  // kNotFound.
  virtual absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) = 0;
  // kInvalidArgument for a bad filter or page token.
  virtual absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) = 0;
  // Every execution whose state is not final, oldest first.
  virtual absl::StatusOr<std::vector<v1::Execution>> ListUnfinished() = 0;
  // Records that someone asked to cancel `id`: sets cancel_requested without
  // touching the record's version, so it never conflicts with the engine's
  // own writes. kNotFound; kFailedPrecondition if already final.
  virtual absl::Status RequestCancel(absl::string_view id) = 0;

  // --- Secrets ------------------------------------------------------------
  // Values are never returned by any read path except RevealSecrets.
  virtual absl::Status SetSecret(absl::string_view name, absl::string_view value,
                                 absl::Time now) = 0;
  // kNotFound.
  virtual absl::Status DeleteSecret(absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() = 0;
  // For the engine only, to inject values into an attempt. kNotFound names
  // the missing secrets.
  virtual absl::StatusOr<std::map<std::string, std::string>> RevealSecrets(
      const std::vector<std::string>& names) = 0;

  // --- API tokens ---------------------------------------------------------
  // Stores a new token with the SHA-256 (32 raw bytes) of its secret; the
  // secret itself never reaches the store. kAlreadyExists if the id exists,
  // or if a token that is not revoked has the name (a revoked token's name
  // may be reused). kInvalidArgument for an empty id or name, a set
  // revoke_time, or a hash that is not 32 bytes.
  virtual absl::Status CreateToken(const v1::Token& token, absl::string_view secret_hash) = 0;
  // Every token, revoked ones included, oldest first. No hashes.
  virtual absl::StatusOr<std::vector<v1::Token>> ListTokens() = 0;
  // kNotFound.
  virtual absl::StatusOr<StoredToken> GetToken(absl::string_view id) = 0;
  // Sets revoke_time on the token with id `id_or_name`, else on the live
  // (not revoked) token of that name. Revoking a revoked token is OK and keeps
  // its first revoke_time. kNotFound if no token has that id or name.
  virtual absl::Status RevokeToken(absl::string_view id_or_name, absl::Time now) = 0;

  // --- Audit log ----------------------------------------------------------
  // Appends `entry` (its seq is ignored) and, once it is durable, sets
  // entry->seq: larger than every seq assigned before, never reused.
  virtual absl::Status AppendAudit(v1::AuditEntry* entry) = 0;
  // Newest first. kInvalidArgument if `limit` is not in 1..1000 or
  // `page_token` is not one this store returned.
  virtual absl::StatusOr<AuditPage> ListAudit(int limit, absl::string_view page_token) = 0;
};

struct SqliteStoreOptions {
  std::string path;  // The database file; created with its directory.
  // Key for secrets at rest (AES-256-GCM): created with mode 0600 if missing.
  // Empty: "<path>.key" beside the database.
  std::string secret_key_path;
  bool synchronous_full = true;  // PRAGMA synchronous=FULL (else NORMAL).
  absl::Duration busy_timeout = absl::Seconds(10);
};

// Opens (creating if needed) a SQLite store in WAL mode and applies pending
// schema migrations. Errors: kFailedPrecondition if the database was written
// by a newer automate (it is left untouched); kInternal/kUnavailable from
// SQLite.
AUTOMATE_EXPORT absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteStoreOptions& options);

}  // namespace automate

#endif  // AUTOMATE_STORE_H_
