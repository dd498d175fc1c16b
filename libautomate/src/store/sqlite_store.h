// SqliteStore: the Store on one SQLite file in WAL mode.
//
// One write connection, driven by a GroupCommitter, so concurrent writes share
// transactions and fsyncs. Reads use a small pool of separate connections:
// in WAL mode they see the last committed state and never wait for the
// writer's fsync, and other processes can read the same file meanwhile.
//
// Thread-safety: all methods are thread-safe.
#ifndef AUTOMATE_STORE_SQLITE_STORE_H_
#define AUTOMATE_STORE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "automate/store.h"
#include "store/group_commit.h"
#include "store/secret_cipher.h"
#include "store/sqlite_db.h"

namespace automate::internal {

class SqliteStore final : public Store {
 public:
  // See OpenSqliteStore in automate/store.h.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options);

  absl::StatusOr<v1::Job> PutJob(const v1::JobSpec& spec, absl::Time now) override;
  absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version = 0) override;
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override;
  absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) override;
  absl::Status DeleteJob(absl::string_view name, absl::Time now) override;
  absl::StatusOr<int64_t> JobsGeneration() override;

  // A version > 0 whose id does not exist is kNotFound (not kAborted): there
  // is nothing to re-read.
  absl::Status WriteExecutions(const std::vector<v1::Execution*>& batch) override;
  absl::Status WriteExecutionsAudited(const std::vector<v1::Execution*>& batch,
                                      const std::vector<v1::AuditEntry*>& audits) override;
  absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) override;
  absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) override;
  absl::StatusOr<std::vector<v1::Execution>> ListUnfinished() override;
  absl::Status RequestCancel(absl::string_view id) override;

  absl::Status SetSecret(absl::string_view name, absl::string_view value, absl::Time now) override;
  absl::Status DeleteSecret(absl::string_view name) override;
  absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() override;
  absl::StatusOr<std::map<std::string, std::string>> RevealSecrets(
      const std::vector<std::string>& names) override;

  absl::Status CreateToken(const v1::Token& token, absl::string_view secret_hash) override;
  absl::StatusOr<std::vector<v1::Token>> ListTokens() override;
  absl::StatusOr<StoredToken> GetToken(absl::string_view id) override;
  absl::Status RevokeToken(absl::string_view id_or_name, absl::Time now) override;

  absl::Status AppendAudit(v1::AuditEntry* entry) override;
  absl::StatusOr<AuditPage> ListAudit(int limit, absl::string_view page_token) override;

  // Write transactions committed so far; with group commit this is less than
  // the number of write calls under concurrency.
  int64_t commit_count() const { return committer_.commit_count(); }

 private:
  SqliteStore(SqliteStoreOptions options, std::unique_ptr<SqliteDb> writer, SecretCipher cipher);

  // Runs `read` on an idle read connection (opening one if none is idle).
  absl::Status WithReader(const std::function<absl::Status(SqliteDb&)>& read);
  absl::StatusOr<std::unique_ptr<SqliteDb>> OpenReader() const;
  // Inserts `entry` inside the caller's transaction; returns its seq.
  static absl::StatusOr<int64_t> InsertAudit(SqliteDb& db, const v1::AuditEntry& entry);

  const SqliteStoreOptions options_;
  const std::unique_ptr<SqliteDb> writer_;  // Used only through committer_.
  GroupCommitter committer_;
  const SecretCipher cipher_;

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<SqliteDb>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
};

// Helpers shared by the store's .cc files.

// Serializes with deterministic map order, so equal messages give equal bytes.
std::string SerializeDeterministic(const google::protobuf::Message& message);
google::protobuf::Timestamp ToTimestamp(absl::Time t);
int64_t TimestampMicros(const google::protobuf::Timestamp& t);

}  // namespace automate::internal

#endif  // AUTOMATE_STORE_SQLITE_STORE_H_
