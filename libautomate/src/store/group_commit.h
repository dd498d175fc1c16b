// Group commit: many threads' writes share one SQLite transaction (one fsync).
//
// Each caller of Run() queues its operation. If no commit is in progress the
// caller becomes the leader: it takes everything queued so far, runs each
// operation inside its own SAVEPOINT within one IMMEDIATE transaction, commits
// once, and hands every follower its own result. Callers that arrive while a
// leader is committing wait; the next of them to wake leads the next group
// (with everything that queued up meanwhile), so under load each fsync covers
// many writes and throughput grows with the number of writers.
//
// An operation that fails is rolled back to its savepoint and fails alone;
// the rest of its group still commits. If the transaction itself fails (BEGIN
// or COMMIT, or SQLite rolls it back after an I/O error) every operation in the
// group gets that error and nothing of the group is kept.
//
// Thread-safety: Run() is thread-safe. The connection is only touched by the
// current leader, one thread at a time.
#ifndef AUTOMATE_STORE_GROUP_COMMIT_H_
#define AUTOMATE_STORE_GROUP_COMMIT_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "store/sqlite_db.h"

namespace automate::internal {

class GroupCommitter {
 public:
  // Runs inside the shared transaction on the write connection. Must not
  // BEGIN/COMMIT itself. Its effects on caller memory must be undoable or
  // only trusted when Run() returns OK: a later COMMIT failure fails it.
  using Op = std::function<absl::Status(SqliteDb&)>;

  explicit GroupCommitter(SqliteDb* db) : db_(db) {}  // Borrowed.

  // Runs `op` in a shared transaction and returns once that transaction is
  // committed (durable) or failed. Returns `op`'s own error, or the
  // transaction's.
  absl::Status Run(Op op);

  // Transactions committed so far (for tests and benchmarks).
  int64_t commit_count() const;
  // Operations waiting for a leader (for tests that build a group).
  int queued() const;

 private:
  struct Pending {
    Op op;
    absl::Status status;
    bool done = false;
  };

  // Runs one group in one transaction and records each Pending's status.
  // Returns whether the transaction committed.
  bool CommitGroup(const std::vector<Pending*>& group);
  absl::Status RunInSavepoint(Pending& pending);

  SqliteDb* const db_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // Signalled when a group finishes.
  std::vector<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool leader_active_ ABSL_GUARDED_BY(mu_) = false;
  int64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_STORE_GROUP_COMMIT_H_
