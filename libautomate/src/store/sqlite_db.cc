#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace automate::internal {

absl::Status SqliteError(int rc, sqlite3* db, absl::string_view context) {
  // sqlite3_errmsg describes the most recent failure on `db`, which is the
  // one that produced `rc`; without a handle, fall back to the generic text.
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = absl::StrCat("sqlite store: ", context, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, bool create,
                                                         absl::Duration busy_timeout) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(rc, db, absl::StrCat("open ", path));
    sqlite3_close_v2(db);  // A handle is returned even on failure.
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));
  return std::unique_ptr<SqliteDb>(new SqliteDb(db, path));
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmts] : cache_) {
    for (sqlite3_stmt* stmt : stmts) sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

void SqliteDb::Release(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  std::vector<sqlite3_stmt*>& idle = cache_[sqlite3_sql(stmt)];
  if (idle.size() >= 4) {
    sqlite3_finalize(stmt);
    return;
  }
  idle.push_back(stmt);
}

absl::Status SqliteDb::Exec(absl::string_view sql) {
  if (!absl::StrContains(sql, ';')) {
    absl::StatusOr<SqliteStmt> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    absl::Status run = stmt->Run();
    if (!run.ok()) return SqliteError(sqlite3_extended_errcode(db_), db_, absl::StrCat(path_, ": ", sql));
    return run;
  }
  std::string copy(sql);  // sqlite3_exec wants a NUL-terminated string.
  int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, db_, absl::StrCat(path_, ": ", sql));
  return absl::OkStatus();
}

absl::StatusOr<SqliteStmt> SqliteDb::Prepare(absl::string_view sql) {
  auto cached = cache_.find(sql);
  if (cached != cache_.end() && !cached->second.empty()) {
    sqlite3_stmt* stmt = cached->second.back();
    cached->second.pop_back();
    return SqliteStmt(stmt, this);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, db_, absl::StrCat(path_, ": prepare"));
  if (stmt == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite store: empty statement: ", sql));
  }
  return SqliteStmt(stmt, this);
}

absl::StatusOr<int64_t> SqliteDb::QueryInt(absl::string_view sql) {
  absl::StatusOr<SqliteStmt> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat("sqlite store: ", sql, ": no row"));
  return stmt->ColumnInt(0);
}

int64_t SqliteDb::changes() const { return sqlite3_changes64(db_); }
bool SqliteDb::autocommit() const { return sqlite3_get_autocommit(db_) != 0; }

SqliteStmt::SqliteStmt(SqliteStmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), owner_(other.owner_), db_(other.db_) {}

SqliteStmt::~SqliteStmt() {
  if (stmt_ != nullptr) owner_->Release(stmt_);
}

SqliteStmt& SqliteStmt::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

SqliteStmt& SqliteStmt::BindText(int index, absl::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

SqliteStmt& SqliteStmt::BindBlob(int index, absl::string_view value) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  sqlite3_bind_blob64(stmt_, index, value.empty() ? "" : value.data(), value.size(),
                      SQLITE_TRANSIENT);
  return *this;
}

absl::StatusOr<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(rc, db_, sqlite3_sql(stmt_));
}

absl::Status SqliteStmt::Run() {
  for (;;) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t SqliteStmt::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

absl::string_view SqliteStmt::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text == nullptr ? absl::string_view()
                         : absl::string_view(text, sqlite3_column_bytes(stmt_, column));
}

absl::string_view SqliteStmt::ColumnBlob(int column) const {
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return blob == nullptr ? absl::string_view()
                         : absl::string_view(blob, sqlite3_column_bytes(stmt_, column));
}

}  // namespace automate::internal
