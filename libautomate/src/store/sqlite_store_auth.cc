// SqliteStore: API tokens and the audit log.
//
// A token's `data` column holds the serialized Token without revoke_time:
// revocation lives only in its own column, which the partial unique index on
// live names and every query filter on. The secret hash is a column of its
// own and is read only by GetToken; no message built here includes it.
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "store/sqlite_store.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

constexpr size_t kSecretHashSize = 32;  // SHA-256
constexpr int kMaxAuditLimit = 1000;
constexpr absl::string_view kAuditTokenPrefix = "audit1:";

// Both read the columns TokenFromRow expects: data, revoked (0/1), revoke_time.
constexpr char kListTokens[] =
    "SELECT data, revoke_time IS NOT NULL, COALESCE(revoke_time, 0) FROM tokens "
    "ORDER BY create_time, rowid";  // rowid: creation order within one microsecond.
constexpr char kGetToken[] =
    "SELECT data, revoke_time IS NOT NULL, COALESCE(revoke_time, 0), secret_hash FROM tokens "
    "WHERE id = ?1";

absl::StatusOr<v1::Token> TokenFromRow(const SqliteStmt& row) {
  v1::Token token;
  absl::string_view data = row.ColumnBlob(0);
  if (!token.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::DataLossError("sqlite store: unreadable token record");
  }
  if (row.ColumnInt(1) != 0) {
    *token.mutable_revoke_time() = ToTimestamp(FromMicros(row.ColumnInt(2)));
  }
  return token;
}

// Page tokens are opaque to callers: "audit1:<last seq>", base64url.
std::string MakeAuditPageToken(int64_t last_seq) {
  return absl::WebSafeBase64Escape(absl::StrCat(kAuditTokenPrefix, last_seq));
}

absl::StatusOr<int64_t> ParseAuditPageToken(absl::string_view token) {
  absl::Status malformed =
      absl::InvalidArgumentError("sqlite store: list audit: malformed page token");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return malformed;
  absl::string_view rest = raw;
  int64_t seq = 0;
  if (!absl::ConsumePrefix(&rest, kAuditTokenPrefix) || !absl::SimpleAtoi(rest, &seq) || seq <= 0) {
    return malformed;
  }
  return seq;
}

}  // namespace

// --- Tokens -----------------------------------------------------------------

absl::Status SqliteStore::CreateToken(const v1::Token& token, absl::string_view secret_hash) {
  if (token.id().empty() || token.name().empty()) {
    return absl::InvalidArgumentError("sqlite store: create token: empty id or name");
  }
  if (token.has_revoke_time()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: create token ", token.id(), ": already revoked"));
  }
  if (secret_hash.size() != kSecretHashSize) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite store: create token ", token.id(),
                                                   ": secret hash has ", secret_hash.size(),
                                                   " bytes, want ", kSecretHashSize));
  }
  std::string data = SerializeDeterministic(token);
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    // Checked first rather than mapped from a constraint error, to say which
    // of the two is taken. The write transaction makes check and insert one.
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt taken, db.Prepare("SELECT id FROM tokens WHERE id = ?1 OR "
                                     "(name = ?2 AND revoke_time IS NULL) LIMIT 1"));
    taken.BindText(1, token.id()).BindText(2, token.name());
    AUTOMATE_ASSIGN_OR_RETURN(bool found, taken.Step());
    if (found) {
      if (taken.ColumnText(0) == token.id()) {
        return absl::AlreadyExistsError(
            absl::StrCat("sqlite store: create token: id ", token.id(), " already exists"));
      }
      return absl::AlreadyExistsError(absl::StrCat("sqlite store: create token: name \"",
                                                   token.name(), "\" is taken by token ",
                                                   taken.ColumnText(0)));
    }
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt insert,
        db.Prepare("INSERT INTO tokens (id, name, secret_hash, create_time, revoke_time, data) "
                   "VALUES (?1, ?2, ?3, ?4, NULL, ?5)"));
    insert.BindText(1, token.id()).BindText(2, token.name()).BindBlob(3, secret_hash);
    insert.Bind(4, TimestampMicros(token.create_time())).BindBlob(5, data);
    return Annotate(insert.Run(), absl::StrCat("create token ", token.id()));
  });
}

absl::StatusOr<std::vector<v1::Token>> SqliteStore::ListTokens() {
  std::vector<v1::Token> out;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt, db.Prepare(kListTokens));
    for (;;) {
      AUTOMATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      AUTOMATE_ASSIGN_OR_RETURN(v1::Token token, TokenFromRow(stmt));
      out.push_back(std::move(token));
    }
  });
  if (!outcome.ok()) return outcome;
  return out;
}

absl::StatusOr<StoredToken> SqliteStore::GetToken(absl::string_view id) {
  StoredToken stored;
  bool found = false;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt, db.Prepare(kGetToken));
    stmt.BindText(1, id);
    AUTOMATE_ASSIGN_OR_RETURN(found, stmt.Step());
    if (!found) return absl::OkStatus();
    AUTOMATE_ASSIGN_OR_RETURN(stored.token, TokenFromRow(stmt));
    stored.secret_hash = std::string(stmt.ColumnBlob(3));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  if (!found) return absl::NotFoundError(absl::StrCat("sqlite store: token ", id, " not found"));
  return stored;
}

absl::Status SqliteStore::RevokeToken(absl::string_view id_or_name, absl::Time now) {
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    // An id wins over a name: ids are what the API hands out, and a name
    // could (in theory) look like another token's id.
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt by_id, db.Prepare("SELECT revoke_time IS NULL FROM tokens WHERE id = ?1"));
    by_id.BindText(1, id_or_name);
    AUTOMATE_ASSIGN_OR_RETURN(bool is_id, by_id.Step());
    if (is_id) {
      if (by_id.ColumnInt(0) == 0) return absl::OkStatus();  // Already revoked: keep the time.
      AUTOMATE_ASSIGN_OR_RETURN(
          SqliteStmt update, db.Prepare("UPDATE tokens SET revoke_time = ?2 WHERE id = ?1"));
      update.BindText(1, id_or_name).Bind(2, ToMicros(now));
      return Annotate(update.Run(), absl::StrCat("revoke token ", id_or_name));
    }
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt by_name,
        db.Prepare("UPDATE tokens SET revoke_time = ?2 WHERE name = ?1 AND revoke_time IS NULL"));
    by_name.BindText(1, id_or_name).Bind(2, ToMicros(now));
    AUTOMATE_RETURN_IF_ERROR(Annotate(by_name.Run(), absl::StrCat("revoke token ", id_or_name)));
    if (db.changes() > 0) return absl::OkStatus();
    // No live token of that name: fine if only revoked ones have it.
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt any,
                              db.Prepare("SELECT 1 FROM tokens WHERE name = ?1 LIMIT 1"));
    any.BindText(1, id_or_name);
    AUTOMATE_ASSIGN_OR_RETURN(bool revoked_before, any.Step());
    if (revoked_before) return absl::OkStatus();
    return absl::NotFoundError(
        absl::StrCat("sqlite store: revoke token ", id_or_name, ": no token has that id or name"));
  });
}

// --- Audit log --------------------------------------------------------------

absl::StatusOr<int64_t> SqliteStore::InsertAudit(SqliteDb& db, const v1::AuditEntry& entry) {
  AUTOMATE_ASSIGN_OR_RETURN(
      SqliteStmt insert,
      db.Prepare("INSERT INTO audit (time, actor, action, target, detail, http_status) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq"));
  insert.Bind(1, TimestampMicros(entry.time())).BindText(2, entry.actor());
  insert.BindText(3, entry.action()).BindText(4, entry.target());
  insert.BindText(5, entry.detail()).Bind(6, entry.http_status());
  AUTOMATE_ASSIGN_OR_RETURN(bool row, insert.Step());
  if (!row) return absl::InternalError("sqlite store: append audit: no seq returned");
  return insert.ColumnInt(0);
}

absl::Status SqliteStore::AppendAudit(v1::AuditEntry* entry) {
  if (entry == nullptr) return absl::InvalidArgumentError("sqlite store: null audit entry");
  int64_t seq = 0;
  absl::Status outcome = committer_.Run([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(seq, InsertAudit(db, *entry));
    return absl::OkStatus();
  });
  if (!outcome.ok()) return outcome;
  // Only now is the entry durable; a failed COMMIT leaves seq unset.
  entry->set_seq(seq);
  return absl::OkStatus();
}

absl::StatusOr<AuditPage> SqliteStore::ListAudit(int limit, absl::string_view page_token) {
  if (limit < 1 || limit > kMaxAuditLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: list audit: limit ", limit, " is not in 1..", kMaxAuditLimit));
  }
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!page_token.empty()) {
    AUTOMATE_ASSIGN_OR_RETURN(before, ParseAuditPageToken(page_token));
  }
  AuditPage page;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("SELECT seq, time, actor, action, target, detail, http_status FROM audit "
                   "WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"));
    stmt.Bind(1, before).Bind(2, limit + 1);  // One more shows if a next page exists.
    for (;;) {
      AUTOMATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      v1::AuditEntry& entry = page.entries.emplace_back();
      entry.set_seq(stmt.ColumnInt(0));
      *entry.mutable_time() = ToTimestamp(FromMicros(stmt.ColumnInt(1)));
      entry.set_actor(std::string(stmt.ColumnText(2)));
      entry.set_action(std::string(stmt.ColumnText(3)));
      entry.set_target(std::string(stmt.ColumnText(4)));
      entry.set_detail(std::string(stmt.ColumnText(5)));
      entry.set_http_status(static_cast<int32_t>(stmt.ColumnInt(6)));
    }
  });
  if (!outcome.ok()) return outcome;
  if (page.entries.size() > static_cast<size_t>(limit)) {
    page.entries.resize(limit);
    page.next_page_token = MakeAuditPageToken(page.entries.back().seq());
  }
  return page;
}

}  // namespace automate::internal
