#include "store/group_commit.h"

#include <utility>

namespace automate::internal {

absl::Status GroupCommitter::Run(Op op) {
  Pending pending{std::move(op), absl::OkStatus(), false};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&pending);
  while (!pending.done) {
    if (leader_active_) {
      // Either a leader has taken our entry (we wake to `done`), or we queue
      // behind it and one of us leads the next group.
      cv_.Wait(&mu_);
      continue;
    }
    leader_active_ = true;
    std::vector<Pending*> group;
    group.swap(queue_);
    // Commit without the mutex so that followers can keep queueing: those
    // arrivals form the next group.
    mu_.Unlock();
    bool committed = CommitGroup(group);
    mu_.Lock();
    if (committed) ++commits_;
    for (Pending* p : group) p->done = true;
    leader_active_ = false;
    cv_.SignalAll();
  }
  return pending.status;
}

bool GroupCommitter::CommitGroup(const std::vector<Pending*>& group) {
  absl::Status begin = db_->Exec("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    for (Pending* p : group) p->status = begin;
    return false;
  }
  absl::Status fatal;
  for (Pending* p : group) {
    p->status = RunInSavepoint(*p);
    if (db_->autocommit()) {
      // SQLite rolled the whole transaction back (I/O error, full disk):
      // the writes of earlier members are gone too.
      fatal =
          p->status.ok() ? absl::InternalError("sqlite store: transaction rolled back") : p->status;
      break;
    }
  }
  if (fatal.ok()) fatal = db_->Exec("COMMIT");
  if (!fatal.ok()) {
    if (!db_->autocommit()) db_->Exec("ROLLBACK").IgnoreError();
    for (Pending* p : group) p->status = fatal;
    return false;
  }
  return true;
}

absl::Status GroupCommitter::RunInSavepoint(Pending& pending) {
  absl::Status status = db_->Exec("SAVEPOINT op");
  if (!status.ok()) return status;
  status = pending.op(*db_);
  if (db_->autocommit()) return status;
  if (status.ok()) {
    status = db_->Exec("RELEASE op");
    if (status.ok()) return status;
  }
  // Undo this operation only; ROLLBACK TO keeps the savepoint, so release it.
  absl::Status undo = db_->Exec("ROLLBACK TO op");
  if (undo.ok()) undo = db_->Exec("RELEASE op");
  if (undo.ok()) return status;
  // The operation's writes could not be undone alone: abandon the whole
  // transaction, which CommitGroup sees as autocommit() and fails the group.
  db_->Exec("ROLLBACK").IgnoreError();
  return undo;
}

int64_t GroupCommitter::commit_count() const {
  absl::MutexLock lock(&mu_);
  return commits_;
}

int GroupCommitter::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

}  // namespace automate::internal
