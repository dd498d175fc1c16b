// SqliteStore: executions.
//
// The `data` column holds the serialized Execution with its version but
// without cancel_requested: that flag lives only in its own column, so that
// RequestCancel never changes the record (or its version) under the engine.
// The other columns copy the fields that queries filter or sort on.
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "automate/execution.h"
#include "store/sqlite_store.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

constexpr int kMaxListLimit = 1000;
constexpr absl::string_view kTokenPrefix = "exec1";

// One execution ready to write: everything computed before the shared
// transaction, so the group-commit leader does as little as possible.
struct ExecutionRow {
  v1::Execution* execution;  // Borrowed: the caller's, version bumped on success.
  int64_t old_version;
  std::string data;
  bool cancel_requested = false;  // The stored flag, as the write left it.
};

absl::StatusOr<ExecutionRow> MakeRow(v1::Execution* execution) {
  if (execution == nullptr) return absl::InvalidArgumentError("sqlite store: null execution");
  if (execution->id().empty()) {
    return absl::InvalidArgumentError("sqlite store: write execution: empty id");
  }
  if (execution->version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: write execution ", execution->id(), ": negative version"));
  }
  v1::Execution stored = *execution;
  stored.set_version(execution->version() + 1);
  stored.clear_cancel_requested();
  return ExecutionRow{execution, execution->version(), SerializeDeterministic(stored)};
}

// Binds the column values shared by INSERT and UPDATE (?1..?8).
void BindColumns(SqliteStmt& stmt, const ExecutionRow& row) {
  const v1::Execution& e = *row.execution;
  stmt.BindText(1, e.id()).BindText(2, e.job()).Bind(3, e.state()).Bind(4, e.priority());
  stmt.Bind(5, TimestampMicros(e.create_time())).Bind(6, TimestampMicros(e.update_time()));
  stmt.Bind(7, row.old_version + 1).BindBlob(8, row.data);
}

absl::Status InsertRow(SqliteDb& db, const ExecutionRow& row) {
  AUTOMATE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db.Prepare("INSERT INTO executions (id, job, state, priority, create_time, update_time, "
                 "version, data, cancel_requested) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                 "ON CONFLICT (id) DO NOTHING"));
  BindColumns(stmt, row);
  stmt.Bind(9, row.execution->cancel_requested() ? 1 : 0);
  AUTOMATE_RETURN_IF_ERROR(stmt.Run());
  if (db.changes() == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("sqlite store: create execution ", row.execution->id(), ": already exists"));
  }
  return absl::OkStatus();
}

// The flag lives in its own column (RequestCancel sets it from any process),
// so the update reads it back: the caller's copy then equals the row.
absl::Status UpdateRow(SqliteDb& db, ExecutionRow& row) {
  AUTOMATE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db.Prepare("UPDATE executions SET job = ?2, state = ?3, priority = ?4, create_time = ?5, "
                 "update_time = ?6, version = ?7, data = ?8 WHERE id = ?1 AND version = ?9"));
  BindColumns(stmt, row);
  stmt.Bind(9, row.old_version);
  AUTOMATE_RETURN_IF_ERROR(stmt.Run());
  const bool updated = db.changes() == 1;
  // One point read after the UPDATE serves both outcomes: the flag when it
  // matched, the stored version when it did not. (It costs a fraction of
  // what UPDATE ... RETURNING does here.)
  AUTOMATE_ASSIGN_OR_RETURN(
      SqliteStmt find, db.Prepare("SELECT version, cancel_requested FROM executions WHERE id = ?1"));
  find.BindText(1, row.execution->id());
  AUTOMATE_ASSIGN_OR_RETURN(bool found, find.Step());
  if (updated) {
    row.cancel_requested = found && find.ColumnInt(1) != 0;
    return absl::OkStatus();
  }
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("sqlite store: update execution ", row.execution->id(), ": not found"));
  }
  return absl::AbortedError(absl::StrCat("sqlite store: update execution ", row.execution->id(),
                                         ": version ", row.old_version, " is stale (stored ",
                                         find.ColumnInt(0), ")"));
}

// Columns: data, cancel_requested, version.
absl::StatusOr<v1::Execution> ExecutionFromRow(const SqliteStmt& row) {
  v1::Execution execution;
  absl::string_view data = row.ColumnBlob(0);
  if (!execution.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::DataLossError("sqlite store: unreadable execution record");
  }
  execution.set_cancel_requested(row.ColumnInt(1) != 0);
  execution.set_version(row.ColumnInt(2));
  return execution;
}

absl::StatusOr<std::vector<v1::Execution>> CollectExecutions(SqliteStmt& stmt) {
  std::vector<v1::Execution> out;
  for (;;) {
    AUTOMATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    AUTOMATE_ASSIGN_OR_RETURN(v1::Execution execution, ExecutionFromRow(stmt));
    out.push_back(std::move(execution));
  }
}

// Page tokens are opaque to callers: "exec1:<a|d>:<last id>", base64url.
// The direction is checked so a token cannot be replayed the other way.
std::string MakePageToken(bool oldest_first, absl::string_view last_id) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kTokenPrefix, ":", oldest_first ? "a" : "d", ":", last_id));
}

absl::StatusOr<std::string> ParsePageToken(absl::string_view token, bool oldest_first) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, ':');
  if (parts.size() != 3 || parts[0] != kTokenPrefix || parts[2].empty() ||
      parts[1] != (oldest_first ? "a" : "d")) {
    return absl::InvalidArgumentError("sqlite store: list executions: malformed page token");
  }
  return parts[2];
}

absl::StatusOr<SqliteStmt> PrepareList(SqliteDb& db, const ExecutionFilter& filter,
                                       const std::string& after_id) {
  std::string sql = "SELECT data, cancel_requested, version FROM executions WHERE create_time >= ?";
  std::vector<int64_t> ints = {ToMicros(filter.since)};
  if (!filter.states.empty()) {
    sql += " AND state IN (?";
    for (size_t i = 1; i < filter.states.size(); ++i) sql += ", ?";
    sql += ")";
    for (v1::ExecutionState s : filter.states) ints.push_back(s);
  }
  if (filter.cancel_requested_only) sql += " AND cancel_requested = 1";
  ints.push_back(filter.limit + 1);  // One more than asked shows if a next page exists.
  std::vector<std::string> texts;
  if (!filter.job.empty()) {
    sql += " AND job = ?";
    texts.push_back(filter.job);
  }
  if (!after_id.empty()) {
    sql += filter.oldest_first ? " AND id > ?" : " AND id < ?";
    texts.push_back(after_id);
  }
  sql += filter.oldest_first ? " ORDER BY id ASC" : " ORDER BY id DESC";
  sql += " LIMIT ?";
  // Parameters are numbered in text order: ints (minus the limit), texts, limit.
  AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt, db.Prepare(sql));
  int index = 1;
  for (size_t i = 0; i + 1 < ints.size(); ++i) stmt.Bind(index++, ints[i]);
  for (const std::string& t : texts) stmt.BindText(index++, t);
  stmt.Bind(index, ints.back());
  return stmt;
}

}  // namespace

absl::Status SqliteStore::WriteExecutions(const std::vector<v1::Execution*>& batch) {
  return WriteExecutionsAudited(batch, {});
}

absl::Status SqliteStore::WriteExecutionsAudited(const std::vector<v1::Execution*>& batch,
                                                 const std::vector<v1::AuditEntry*>& audits) {
  std::vector<v1::AuditEntry*> entries;
  for (v1::AuditEntry* audit : audits) {
    if (audit != nullptr) entries.push_back(audit);
  }
  if (batch.empty() && entries.empty()) return absl::OkStatus();
  std::vector<ExecutionRow> rows;
  rows.reserve(batch.size());
  for (v1::Execution* execution : batch) {
    AUTOMATE_ASSIGN_OR_RETURN(ExecutionRow row, MakeRow(execution));
    rows.push_back(std::move(row));
  }
  std::vector<int64_t> audit_seqs(entries.size());
  absl::Status outcome = committer_.Run([&](SqliteDb& db) -> absl::Status {
    for (ExecutionRow& row : rows) {
      if (row.old_version == 0) {
        AUTOMATE_RETURN_IF_ERROR(InsertRow(db, row));
        row.cancel_requested = row.execution->cancel_requested();
      } else {
        AUTOMATE_RETURN_IF_ERROR(UpdateRow(db, row));
      }
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      AUTOMATE_ASSIGN_OR_RETURN(audit_seqs[i], InsertAudit(db, *entries[i]));
    }
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  // Only now is the batch durable; a failed COMMIT leaves versions unchanged.
  for (ExecutionRow& row : rows) {
    row.execution->set_version(row.old_version + 1);
    row.execution->set_cancel_requested(row.cancel_requested);
  }
  for (size_t i = 0; i < entries.size(); ++i) entries[i]->set_seq(audit_seqs[i]);
  return absl::OkStatus();
}

absl::StatusOr<v1::Execution> SqliteStore::GetExecution(absl::string_view id) {
  std::vector<v1::Execution> found;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("SELECT data, cancel_requested, version FROM executions WHERE id = ?1"));
    stmt.BindText(1, id);
    AUTOMATE_ASSIGN_OR_RETURN(found, CollectExecutions(stmt));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("sqlite store: execution ", id, " not found"));
  }
  return std::move(found[0]);
}

absl::StatusOr<ExecutionPage> SqliteStore::ListExecutions(const ExecutionFilter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxListLimit) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite store: list executions: limit ",
                                                   filter.limit, " is not in 1..", kMaxListLimit));
  }
  std::string after_id;
  if (!filter.page_token.empty()) {
    AUTOMATE_ASSIGN_OR_RETURN(after_id, ParsePageToken(filter.page_token, filter.oldest_first));
  }
  ExecutionPage page;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt, PrepareList(db, filter, after_id));
    AUTOMATE_ASSIGN_OR_RETURN(page.executions, CollectExecutions(stmt));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  if (page.executions.size() > static_cast<size_t>(filter.limit)) {
    page.executions.resize(filter.limit);
    page.next_page_token = MakePageToken(filter.oldest_first, page.executions.back().id());
  }
  return page;
}

absl::StatusOr<std::vector<v1::Execution>> SqliteStore::ListUnfinished() {
  std::string in;
  for (int s = v1::ExecutionState_MIN; s <= v1::ExecutionState_MAX; ++s) {
    if (IsFinal(static_cast<v1::ExecutionState>(s))) continue;
    absl::StrAppend(&in, in.empty() ? "" : ", ", s);
  }
  std::vector<v1::Execution> out;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                              db.Prepare(absl::StrCat("SELECT data, cancel_requested, version FROM "
                                                      "executions WHERE state IN (",
                                                      in, ") ORDER BY id")));
    AUTOMATE_ASSIGN_OR_RETURN(out, CollectExecutions(stmt));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  return out;
}

absl::Status SqliteStore::RequestCancel(absl::string_view id) {
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt find,
                              db.Prepare("SELECT state FROM executions WHERE id = ?1"));
    find.BindText(1, id);
    AUTOMATE_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) {
      return absl::NotFoundError(absl::StrCat("sqlite store: cancel ", id, ": not found"));
    }
    auto state = static_cast<v1::ExecutionState>(find.ColumnInt(0));
    if (IsFinal(state)) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite store: cancel ", id, ": already ", StateName(state)));
    }
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt update, db.Prepare("UPDATE executions SET cancel_requested = 1 WHERE id = ?1"));
    update.BindText(1, id);
    return update.Run();
  });
}

}  // namespace automate::internal
