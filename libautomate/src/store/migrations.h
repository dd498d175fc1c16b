// Schema versions of the SQLite store and the code that moves a database
// between them. The version lives in PRAGMA user_version (in the file header,
// so it is read without touching any table and written inside the migration
// transaction).
#ifndef AUTOMATE_STORE_MIGRATIONS_H_
#define AUTOMATE_STORE_MIGRATIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "store/sqlite_db.h"

namespace automate::internal {

// The schema version this code writes and understands.
int64_t LatestSchemaVersion();

// Returns kFailedPrecondition, without writing anything, if `db` was written by
// a newer automate. Call before any statement that could modify the file.
absl::Status CheckSchemaNotNewer(SqliteDb& db);

// Applies every migration above the database's version in one IMMEDIATE
// transaction: either all of them land or none. Concurrent openers (threads
// or processes) serialize on the write lock and re-read the version inside
// the transaction, so each migration runs once. No-op when up to date, in
// which case no write lock is taken (so opening never waits for a writer).
absl::Status ApplyMigrations(SqliteDb& db);

}  // namespace automate::internal

#endif  // AUTOMATE_STORE_MIGRATIONS_H_
