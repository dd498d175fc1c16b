// SqliteStore: opening, the read pool, and jobs. Executions, secrets, and
// tokens with the audit log are in sqlite_store_executions.cc,
// sqlite_store_secrets.cc and sqlite_store_auth.cc.
#include "store/sqlite_store.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "store/migrations.h"
#include "util/status_macros.h"

namespace automate {

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<internal::SqliteStore> store,
                            internal::SqliteStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

namespace internal {
namespace {

// Idle read connections kept open; more are opened under load and closed
// when returned beyond this number.
constexpr size_t kMaxIdleReaders = 4;

absl::Status ConfigureWriter(SqliteDb& db, const SqliteStoreOptions& options) {
  AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt wal, db.Prepare("PRAGMA journal_mode=WAL"));
  AUTOMATE_ASSIGN_OR_RETURN(bool row, wal.Step());
  // SQLite silently keeps the old mode when WAL is impossible (e.g. no
  // shared memory on the filesystem); concurrent readers need WAL.
  if (!row || wal.ColumnText(0) != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite store: open ", db.path(), ": cannot enable WAL journal mode"));
  }
  AUTOMATE_RETURN_IF_ERROR(
      db.Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  return db.Exec("PRAGMA foreign_keys=ON");
}

absl::StatusOr<v1::Job> JobFromRow(const SqliteStmt& row, absl::string_view name) {
  // Columns: spec, version, create_time, deleted.
  v1::Job job;
  if (!job.mutable_spec()->ParseFromArray(row.ColumnBlob(0).data(),
                                          static_cast<int>(row.ColumnBlob(0).size()))) {
    return absl::DataLossError(absl::StrCat("sqlite store: job ", name, ": unreadable spec"));
  }
  job.set_version(row.ColumnInt(1));
  *job.mutable_create_time() = ToTimestamp(FromMicros(row.ColumnInt(2)));
  job.set_deleted(row.ColumnInt(3) != 0);
  return job;
}

constexpr char kSelectLatestJob[] =
    "SELECT spec, version, create_time, deleted FROM jobs WHERE name = ?1 "
    "ORDER BY version DESC LIMIT 1";

// Reads the rows of `stmt` as jobs.
absl::StatusOr<std::vector<v1::Job>> CollectJobs(SqliteStmt& stmt, absl::string_view name) {
  std::vector<v1::Job> jobs;
  for (;;) {
    AUTOMATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return jobs;
    AUTOMATE_ASSIGN_OR_RETURN(v1::Job job, JobFromRow(stmt, name));
    jobs.push_back(std::move(job));
  }
}

}  // namespace

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000));
  return ts;
}

int64_t TimestampMicros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("sqlite store: empty path");
  std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("sqlite store: open ", options.path, ": create directory: ", ec.message()));
  }
  AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> writer,
                            SqliteDb::Open(options.path, /*create=*/true, options.busy_timeout));
  // Before anything that could write: a newer schema must stay untouched.
  AUTOMATE_RETURN_IF_ERROR(CheckSchemaNotNewer(*writer));
  std::string key_path =
      options.secret_key_path.empty() ? options.path + ".key" : options.secret_key_path;
  AUTOMATE_ASSIGN_OR_RETURN(SecretCipher cipher, SecretCipher::LoadOrCreate(key_path));
  AUTOMATE_RETURN_IF_ERROR(ConfigureWriter(*writer, options));
  AUTOMATE_RETURN_IF_ERROR(
      Annotate(ApplyMigrations(*writer), absl::StrCat("sqlite store: open ", options.path)));
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(options, std::move(writer), std::move(cipher)));
}

SqliteStore::SqliteStore(SqliteStoreOptions options, std::unique_ptr<SqliteDb> writer,
                         SecretCipher cipher)
    : options_(std::move(options)),
      writer_(std::move(writer)),
      committer_(writer_.get()),
      cipher_(std::move(cipher)) {}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteStore::OpenReader() const {
  AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db,
                            SqliteDb::Open(options_.path, /*create=*/false, options_.busy_timeout));
  // query_only turns an accidental write on a read path into an error.
  AUTOMATE_RETURN_IF_ERROR(db->Exec("PRAGMA query_only=ON"));
  return db;
}

absl::Status SqliteStore::WithReader(const std::function<absl::Status(SqliteDb&)>& read) {
  std::unique_ptr<SqliteDb> db;
  {
    absl::MutexLock lock(&readers_mu_);
    if (!idle_readers_.empty()) {
      db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (db == nullptr) {
    AUTOMATE_ASSIGN_OR_RETURN(db, OpenReader());
  }
  absl::Status status = read(*db);
  absl::MutexLock lock(&readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(db));
  return status;
}

// --- Jobs -------------------------------------------------------------------

absl::StatusOr<v1::Job> SqliteStore::PutJob(const v1::JobSpec& spec, absl::Time now) {
  if (spec.name().empty()) return absl::InvalidArgumentError("sqlite store: put job: empty name");
  v1::Job result;
  absl::Status outcome = committer_.Run([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt latest, db.Prepare(kSelectLatestJob));
    latest.BindText(1, spec.name());
    AUTOMATE_ASSIGN_OR_RETURN(bool found, latest.Step());
    int64_t version = 1;
    if (found) {
      AUTOMATE_ASSIGN_OR_RETURN(v1::Job current, JobFromRow(latest, spec.name()));
      if (!current.deleted() &&
          google::protobuf::util::MessageDifferencer::Equals(current.spec(), spec)) {
        result = std::move(current);
        return absl::OkStatus();
      }
      version = current.version() + 1;
    }
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt insert,
        db.Prepare("INSERT INTO jobs (name, version, spec, create_time, deleted) "
                   "VALUES (?1, ?2, ?3, ?4, 0)"));
    insert.BindText(1, spec.name()).Bind(2, version);
    insert.BindBlob(3, SerializeDeterministic(spec)).Bind(4, ToMicros(now));
    AUTOMATE_RETURN_IF_ERROR(insert.Run());
    *result.mutable_spec() = spec;
    result.set_version(version);
    *result.mutable_create_time() = ToTimestamp(FromMicros(ToMicros(now)));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  return result;
}

absl::StatusOr<v1::Job> SqliteStore::GetJob(absl::string_view name, int64_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: get job ", name, ": negative version ", version));
  }
  std::vector<v1::Job> jobs;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare(version == 0 ? kSelectLatestJob
                                : "SELECT spec, version, create_time, deleted FROM jobs "
                                  "WHERE name = ?1 AND version = ?2"));
    stmt.BindText(1, name);
    if (version != 0) stmt.Bind(2, version);
    AUTOMATE_ASSIGN_OR_RETURN(jobs, CollectJobs(stmt, name));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  if (jobs.empty()) {
    return absl::NotFoundError(version == 0 ? absl::StrCat("sqlite store: job ", name, " not found")
                                            : absl::StrCat("sqlite store: job ", name, " version ",
                                                           version, " not found"));
  }
  if (version == 0 && jobs[0].deleted()) {
    return absl::NotFoundError(absl::StrCat("sqlite store: job ", name, " is deleted"));
  }
  return std::move(jobs[0]);
}

absl::StatusOr<std::vector<v1::Job>> SqliteStore::ListJobs() {
  std::vector<v1::Job> jobs;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("SELECT spec, version, create_time, deleted FROM jobs AS j "
                   "WHERE version = (SELECT MAX(version) FROM jobs WHERE name = j.name) "
                   "AND deleted = 0 ORDER BY name"));
    AUTOMATE_ASSIGN_OR_RETURN(jobs, CollectJobs(stmt, "list"));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  return jobs;
}

absl::StatusOr<std::vector<v1::Job>> SqliteStore::ListJobVersions(absl::string_view name) {
  std::vector<v1::Job> jobs;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                              db.Prepare("SELECT spec, version, create_time, deleted FROM jobs "
                                         "WHERE name = ?1 ORDER BY version"));
    stmt.BindText(1, name);
    AUTOMATE_ASSIGN_OR_RETURN(jobs, CollectJobs(stmt, name));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  if (jobs.empty())
    return absl::NotFoundError(absl::StrCat("sqlite store: job ", name, " not found"));
  return jobs;
}

absl::StatusOr<int64_t> SqliteStore::JobsGeneration() {
  int64_t generation = 0;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(generation, db.QueryInt("SELECT n FROM jobs_generation"));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  return generation;
}

absl::Status SqliteStore::DeleteJob(absl::string_view name, absl::Time /*now*/) {
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    // Only the latest version carries the mark; older ones are history.
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("UPDATE jobs SET deleted = 1 WHERE name = ?1 AND deleted = 0 AND "
                   "version = (SELECT MAX(version) FROM jobs WHERE name = ?1)"));
    stmt.BindText(1, name);
    AUTOMATE_RETURN_IF_ERROR(stmt.Run());
    if (db.changes() == 0) {
      return absl::NotFoundError(absl::StrCat("sqlite store: delete job ", name, ": not found"));
    }
    return absl::OkStatus();
  });
}

}  // namespace internal
}  // namespace automate
