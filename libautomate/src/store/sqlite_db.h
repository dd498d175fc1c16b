// Thin RAII wrappers over the sqlite3 C API, with errors as absl::Status.
//
// Thread-safety: a SqliteDb (and its statements) is used by one thread at a
// time; callers serialize access. Connections are opened in SQLite's
// multi-thread mode (no per-connection mutex) for that reason.
#ifndef AUTOMATE_STORE_SQLITE_DB_H_
#define AUTOMATE_STORE_SQLITE_DB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace automate::internal {

// Maps a SQLite result code to a Status whose message is
// "sqlite store: <context>: <sqlite message>". BUSY/LOCKED become kUnavailable
// (another writer holds the lock: retry), CORRUPT/NOTADB kDataLoss, the rest
// (I/O, full disk, misuse) kInternal.
absl::Status SqliteError(int rc, sqlite3* db, absl::string_view context);

class SqliteStmt;

// One open connection.
class SqliteDb {
 public:
  // Opens `path` read-write, creating it if `create`. `busy_timeout` is how
  // long a statement waits for another connection's lock before SQLITE_BUSY.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path, bool create,
                                                        absl::Duration busy_timeout);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements that return no rows of interest. A single
  // statement (no ';') goes through the statement cache.
  absl::Status Exec(absl::string_view sql);
  // Compiles one statement, or takes it from this connection's cache of
  // statements already compiled: compiling costs more than running the
  // small statements of a commit. The statement returns to the cache,
  // reset, when the SqliteStmt is destroyed.
  absl::StatusOr<SqliteStmt> Prepare(absl::string_view sql);
  // Runs a statement whose single result is one integer (PRAGMA user_version).
  absl::StatusOr<int64_t> QueryInt(absl::string_view sql);

  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t changes() const;
  // True when no transaction is open (SQLite rolled back after an error).
  bool autocommit() const;
  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  friend class SqliteStmt;
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void Release(sqlite3_stmt* stmt);
  sqlite3* db_;
  std::string path_;
  // Idle compiled statements by SQL text (several when nested uses overlap).
  absl::flat_hash_map<std::string, std::vector<sqlite3_stmt*>> cache_;
};

// A prepared statement. Bind indexes are 1-based, column indexes 0-based.
class SqliteStmt {
 public:
  SqliteStmt(SqliteStmt&& other) noexcept;
  SqliteStmt& operator=(SqliteStmt&&) = delete;
  SqliteStmt(const SqliteStmt&) = delete;
  ~SqliteStmt();

  SqliteStmt& Bind(int index, int64_t value);
  // The text or blob is copied (SQLITE_TRANSIENT), so temporaries are safe.
  SqliteStmt& BindText(int index, absl::string_view value);
  SqliteStmt& BindBlob(int index, absl::string_view value);

  // Advances to the next row: true with a row, false when done.
  absl::StatusOr<bool> Step();
  // Runs a statement to completion, ignoring any rows.
  absl::Status Run();

  int64_t ColumnInt(int column) const;
  // Views into SQLite's buffer: valid until the next Step().
  absl::string_view ColumnText(int column) const;
  absl::string_view ColumnBlob(int column) const;

 private:
  friend class SqliteDb;
  SqliteStmt(sqlite3_stmt* stmt, SqliteDb* owner) : stmt_(stmt), owner_(owner), db_(owner->db_) {}
  sqlite3_stmt* stmt_;
  SqliteDb* owner_;
  sqlite3* db_;
};

// Times are stored as integer microseconds since the Unix epoch, which keeps
// them sortable and exact.
inline int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
inline absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

}  // namespace automate::internal

#endif  // AUTOMATE_STORE_SQLITE_DB_H_
