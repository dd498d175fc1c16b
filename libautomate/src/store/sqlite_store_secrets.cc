// SqliteStore: secrets. Values are sealed (secret_cipher.h) before they reach
// the write transaction and opened only in RevealSecrets. No message built
// here includes a value.
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/sqlite_store.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

// Names become environment variables: [A-Za-z_][A-Za-z0-9_]*.
absl::Status ValidateSecretName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("sqlite store: secret name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || absl::ascii_isalpha(c) || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("sqlite store: secret name \"", absl::CHexEscape(name),
                       "\" is invalid: want [A-Za-z_][A-Za-z0-9_]* (bad character at ", i, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SqliteStore::SetSecret(absl::string_view name, absl::string_view value,
                                    absl::Time now) {
  AUTOMATE_RETURN_IF_ERROR(ValidateSecretName(name));
  AUTOMATE_ASSIGN_OR_RETURN(std::string sealed, cipher_.Seal(name, value));
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("INSERT INTO secrets (name, sealed, create_time, update_time) "
                   "VALUES (?1, ?2, ?3, ?3) ON CONFLICT (name) DO UPDATE SET "
                   "sealed = excluded.sealed, update_time = excluded.update_time"));
    stmt.BindText(1, name).BindBlob(2, sealed).Bind(3, ToMicros(now));
    return Annotate(stmt.Run(), absl::StrCat("set secret ", name));
  });
}

absl::Status SqliteStore::DeleteSecret(absl::string_view name) {
  AUTOMATE_RETURN_IF_ERROR(ValidateSecretName(name));
  return committer_.Run([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt, db.Prepare("DELETE FROM secrets WHERE name = ?1"));
    stmt.BindText(1, name);
    AUTOMATE_RETURN_IF_ERROR(stmt.Run());
    if (db.changes() == 0) {
      return absl::NotFoundError(absl::StrCat("sqlite store: secret ", name, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::SecretInfo>> SqliteStore::ListSecrets() {
  std::vector<v1::SecretInfo> out;
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    AUTOMATE_ASSIGN_OR_RETURN(
        SqliteStmt stmt,
        db.Prepare("SELECT name, create_time, update_time FROM secrets ORDER BY name"));
    for (;;) {
      AUTOMATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      v1::SecretInfo& info = out.emplace_back();
      info.set_name(std::string(stmt.ColumnText(0)));
      *info.mutable_create_time() = ToTimestamp(FromMicros(stmt.ColumnInt(1)));
      *info.mutable_update_time() = ToTimestamp(FromMicros(stmt.ColumnInt(2)));
    }
  });
  if (!outcome.ok()) return outcome;
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> SqliteStore::RevealSecrets(
    const std::vector<std::string>& names) {
  for (const std::string& name : names) AUTOMATE_RETURN_IF_ERROR(ValidateSecretName(name));
  std::map<std::string, std::string> sealed;
  std::vector<std::string> missing;
  std::set<std::string> unique(names.begin(), names.end());
  absl::Status outcome = WithReader([&](SqliteDb& db) -> absl::Status {
    // One statement inside one read transaction: a consistent set of values.
    AUTOMATE_RETURN_IF_ERROR(db.Exec("BEGIN"));
    absl::Status status = [&]() -> absl::Status {
      for (const std::string& name : unique) {
        AUTOMATE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                                  db.Prepare("SELECT sealed FROM secrets WHERE name = ?1"));
        stmt.BindText(1, name);
        AUTOMATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
        if (found) {
          sealed[name] = std::string(stmt.ColumnBlob(0));
        } else {
          missing.push_back(name);
        }
      }
      return absl::OkStatus();
    }();
    db.Exec("COMMIT").IgnoreError();  // Ends a read transaction; nothing to lose.
    return status;
  });
  if (!outcome.ok()) return outcome;
  if (!missing.empty()) {
    return absl::NotFoundError(
        absl::StrCat("sqlite store: secrets not found: ", absl::StrJoin(missing, ", ")));
  }
  std::map<std::string, std::string> values;
  for (const auto& [name, blob] : sealed) {
    AUTOMATE_ASSIGN_OR_RETURN(values[name], cipher_.Open(name, blob));
  }
  return values;
}

}  // namespace automate::internal
