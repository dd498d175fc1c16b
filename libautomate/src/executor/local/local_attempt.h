// One running attempt of the local executor: the state shared by its
// AttemptHandle (which cancels) and the ObserverLoop that watches it (copies
// output to the LogSink, enforces the cancel grace period, reaps the process
// and reports the outcome).
//
// Lifetime: held by shared_ptr by the executor (until the loop reports it
// finished) and by the handle, so the engine may drop the handle at any time,
// even inside on_done.
// Thread-safety: Cancel() and Kill() may be called from any thread; the
// methods marked "loop thread" run on the observing loop's thread only.
#ifndef AUTOMATE_EXECUTOR_LOCAL_LOCAL_ATTEMPT_H_
#define AUTOMATE_EXECUTOR_LOCAL_LOCAL_ATTEMPT_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/executor.h"
#include "automate/log.h"
#include "executor/local/process.h"

namespace automate::internal {

class ObserverLoop;

class LocalAttempt {
 public:
  // What an epoll event of this attempt is about (the low bits of its tag).
  enum Source : uint64_t { kStdout = 0, kStderr = 1, kExit = 2 };
  static constexpr uint64_t kSourceMask = 3;

  // Takes over `process`. `sink` must stay valid until `on_done` has returned.
  LocalAttempt(std::string execution_id, SpawnedProcess process, LogSink* sink,
               Executor::DoneCallback on_done);

  LocalAttempt(const LocalAttempt&) = delete;
  LocalAttempt& operator=(const LocalAttempt&) = delete;

  const std::string& execution_id() const { return execution_id_; }
  pid_t pid() const { return pid_; }

  // Hands the attempt to `loop`, which from now on observes it and calls
  // on_done. On error the process is killed and reaped, on_done is never
  // called, and the error is returned.
  absl::Status Observe(ObserverLoop* loop);

  // For an attempt no loop can take: kills the group and reaps the process
  // without calling on_done.
  void Abandon();

  // SIGTERM to the process group now, SIGKILL after `grace` (applied by the
  // loop). With `scan_escapees`, processes that left the group but carry our
  // AUTOMATE_EXECUTION_ID get the same signals. Idempotent; a later call can
  // only shorten the grace. No-op once the process is reaped.
  void Cancel(absl::Duration grace, bool scan_escapees);

  // SIGKILL to the process group now, without a polite stop first (the
  // executor is going away). No-op once the process is reaped.
  void Kill();

  // Loop thread: handles a readiness event of `source`, reading with
  // `buffer`. Returns true when the loop must Tick() this attempt from now on
  // (the process has exited).
  bool OnEvent(Source source, char* buffer, size_t size);

  // Loop thread: applies pending cancel work and timers; once the process has
  // exited and its output is drained, reaps it, calls on_done and returns
  // true (the loop then forgets the attempt).
  bool Tick(absl::Time now);

  // Loop thread: when Tick() has something to do next, InfiniteFuture if
  // nothing is due without an event.
  absl::Time NextDeadline() ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t tag(Source source) const { return reinterpret_cast<uintptr_t>(this) | source; }

 private:
  // What the loop must do for a pending cancellation, taken under mu_.
  struct CancelWork {
    bool term_scan = false;  // SIGTERM the escapees.
    bool kill = false;       // The grace is over: SIGKILL the group.
    bool kill_scan = false;  // ... and the escapees.
  };

  UniqueFd& Pipe(Source source) { return source == kStdout ? stdout_fd_ : stderr_fd_; }
  void ClosePipe(Source source);
  bool PipesOpen() const { return stdout_fd_.valid() || stderr_fd_.valid(); }
  void OnExit();
  void PokeLoop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  CancelWork TakeCancelWork(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void DoCancelWork(const CancelWork& work);
  AttemptOutcome Reap() ABSL_LOCKS_EXCLUDED(mu_);
  void Finish();

  const std::string execution_id_;
  const pid_t pid_;
  LogSink* const sink_;
  // Set by Observe() before the loop sees the attempt.
  ObserverLoop* loop_ = nullptr;

  // Used by the loop thread only (and by Observe() before the loop has it).
  UniqueFd pidfd_;
  UniqueFd stdout_fd_;
  UniqueFd stderr_fd_;
  Executor::DoneCallback on_done_;
  bool exited_ = false;
  bool drain_scanned_ = false;  // The escapee scan after a long drain is done.
  absl::Time drain_deadline_ = absl::InfiniteFuture();

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
