// One running attempt of the local executor: the state shared by its
// AttemptHandle (which cancels) and its observer thread (which copies output
// to the LogSink, enforces the cancel grace period, reaps the process and
// reports the outcome).
//
// Lifetime: held by shared_ptr by the handle and by the observer thread, so
// the engine may drop the handle at any time, even inside on_done.
// Thread-safety: Cancel() may be called from any thread, concurrently with
// Observe() running on the observer thread.
#ifndef AUTOMATE_EXECUTOR_LOCAL_LOCAL_ATTEMPT_H_
#define AUTOMATE_EXECUTOR_LOCAL_LOCAL_ATTEMPT_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/executor.h"
#include "automate/log.h"
#include "executor/local/process.h"

namespace automate::internal {

class LocalAttempt {
 public:
  // Takes over `process`. `sink` must stay valid until `on_done` has returned.
  static absl::StatusOr<std::shared_ptr<LocalAttempt>> Create(std::string execution_id,
                                                              SpawnedProcess process,
                                                              LogSink* sink,
                                                              Executor::DoneCallback on_done);

  LocalAttempt(const LocalAttempt&) = delete;
  LocalAttempt& operator=(const LocalAttempt&) = delete;

  const std::string& execution_id() const { return execution_id_; }
  pid_t pid() const { return pid_; }

  // SIGTERM to the process group now, SIGKILL after `grace` (applied by the
  // observer thread). With `scan_escapees`, processes that left the group but
  // carry our AUTOMATE_EXECUTION_ID get the same signals. Idempotent; a later
  // call can only shorten the grace. No-op once the process is reaped.
  void Cancel(absl::Duration grace, bool scan_escapees);

  // SIGKILL to the process group now, without a polite stop first (the
  // executor is going away). No-op once the process is reaped.
  void Kill();

  // Runs on the observer thread until the process is reaped and on_done has
  // returned. Call exactly once, or call Abandon() instead.
  void Observe();

  // For a Start() that fails after the spawn: kills the group and reaps the
  // process without calling on_done.
  void Abandon();

 private:
  // What the observer must do for a pending cancellation, taken under mu_.
  struct CancelWork {
    bool term_scan = false;  // SIGTERM the escapees.
    bool kill = false;       // The grace is over: SIGKILL the group.
    bool kill_scan = false;  // ... and the escapees.
  };

  LocalAttempt(std::string execution_id, SpawnedProcess process, UniqueFd wake_fd,
               LogSink* sink, Executor::DoneCallback on_done);

  void Wake() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchUntilExit();
  void FinishAfterExit();
  // Reads once from stream `index` (0: stdout, 1: stderr); closes it at EOF.
  void ReadOnce(int index);
  // Reads both pipes until EOF or `deadline`; true iff both reached EOF.
  bool DrainUntil(absl::Time deadline);
  int PollTimeoutMs() ABSL_LOCKS_EXCLUDED(mu_);
  CancelWork TakeCancelWork() ABSL_LOCKS_EXCLUDED(mu_);
  void DoCancelWork(const CancelWork& work);
  AttemptOutcome Reap() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string execution_id_;
  const pid_t pid_;
  const UniqueFd wake_fd_;  // eventfd: Cancel() wakes the observer's poll().
  // Used by the observer thread only.
  SpawnedProcess process_;
  LogSink* const sink_;
  Executor::DoneCallback on_done_;
  std::unique_ptr<char[]> buffer_;

  absl::Mutex mu_;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;  // Set just before waitpid().
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool scan_escapees_ ABSL_GUARDED_BY(mu_) = false;
  bool term_scan_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool kill_sent_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time kill_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_LOCAL_ATTEMPT_H_
