#include "executor/local/local_attempt.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "executor/local/observer_loop.h"
#include "executor/local/proc_scan.h"

namespace automate::internal {
namespace {

// How long output may keep flowing after the main process exited and its
// group was killed: only a process that escaped the group can hold a pipe.
constexpr absl::Duration kDrainTimeout = absl::Seconds(2);
constexpr absl::Duration kDrainAfterScanTimeout = absl::Milliseconds(500);

}  // namespace

LocalAttempt::LocalAttempt(std::string execution_id, SpawnedProcess process, LogSink* sink,
                           Executor::DoneCallback on_done)
    : execution_id_(std::move(execution_id)),
      pid_(process.pid),
      sink_(sink),
      pidfd_(std::move(process.pidfd)),
      stdout_fd_(std::move(process.stdout_fd)),
      stderr_fd_(std::move(process.stderr_fd)),
      on_done_(std::move(on_done)) {}

absl::Status LocalAttempt::Observe(ObserverLoop* loop) {
  loop_ = loop;
  absl::Status added = loop->Add({{stdout_fd_.get(), tag(kStdout)},
                                  {stderr_fd_.get(), tag(kStderr)},
                                  {pidfd_.get(), tag(kExit)}});
  if (!added.ok()) Abandon();
  return added;
}

void LocalAttempt::Abandon() {
  {
    absl::MutexLock lock(&mu_);
    reaped_ = true;
  }
  SignalGroup(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  on_done_ = nullptr;
}

void LocalAttempt::Cancel(absl::Duration grace, bool scan_escapees) {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;
  bool changed = false;
  if (!cancelled_) {
    cancelled_ = true;
    // mu_ keeps the loop from reaping meanwhile, so the group id is ours.
    SignalGroup(pid_, SIGTERM);
    changed = true;
  }
  if (scan_escapees && !scan_escapees_) {
    scan_escapees_ = true;
    term_scan_pending_ = true;  // The /proc scan is slow: the loop does it.
    changed = true;
  }
  absl::Time deadline = absl::Now() + std::max(grace, absl::ZeroDuration());
  if (deadline < kill_deadline_) {
    kill_deadline_ = deadline;
    changed = true;
  }
  if (changed) PokeLoop();
}

void LocalAttempt::Kill() {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;
  SignalGroup(pid_, SIGKILL);
  cancelled_ = true;
  kill_deadline_ = absl::InfinitePast();  // The loop repeats the kill.
  PokeLoop();
}

void LocalAttempt::PokeLoop() {
  // Under mu_ with reaped_ false: the loop has not finished the attempt, and
  // cannot before this returns (it sets reaped_ first).
  if (loop_ != nullptr) loop_->Poke(this);
}

bool LocalAttempt::OnEvent(Source source, char* buffer, size_t size) {
  if (source == kExit) {
    if (!exited_) OnExit();
    return true;
  }
  UniqueFd& fd = Pipe(source);
  if (!fd.valid()) return false;
  ssize_t n = read(fd.get(), buffer, size);
  if (n > 0) {
    sink_->Write(source == kStdout ? v1::STDOUT : v1::STDERR,
                 absl::string_view(buffer, static_cast<size_t>(n)));
    return false;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
  ClosePipe(source);  // EOF, or an error that reading again will not fix.
  return false;
}

void LocalAttempt::ClosePipe(Source source) {
  UniqueFd& fd = Pipe(source);
  if (!fd.valid()) return;
  loop_->Unwatch(fd.get());
  fd.Reset();
}

void LocalAttempt::OnExit() {
  exited_ = true;
  loop_->Unwatch(pidfd_.get());  // It stays readable: stop hearing about it.
  // Background processes must not outlive the attempt (as systemd does for a
  // service). The leader is not reaped yet, so the group id is still ours.
  SignalGroup(pid_, SIGKILL);
  bool scan;
  {
    absl::MutexLock lock(&mu_);
    scan = cancelled_ && scan_escapees_;
  }
  if (scan) SignalByExecutionId({execution_id_}, SIGKILL);
  drain_deadline_ = absl::Now() + kDrainTimeout;
}

bool LocalAttempt::Tick(absl::Time now) {
  DoCancelWork(TakeCancelWork(now));
  if (!exited_) return false;
  if (PipesOpen() && now >= drain_deadline_) {
    if (!drain_scanned_) {
      // Something that left the group (setsid) holds a pipe open. Rare, so a
      // /proc scan is affordable here.
      drain_scanned_ = true;
      SignalByExecutionId({execution_id_}, SIGKILL);
      drain_deadline_ = now + kDrainAfterScanTimeout;
    } else {
      ClosePipe(kStdout);
      ClosePipe(kStderr);
    }
  }
  if (PipesOpen()) return false;
  Finish();
  return true;
}

absl::Time LocalAttempt::NextDeadline() {
  absl::Time next = exited_ && PipesOpen() ? drain_deadline_ : absl::InfiniteFuture();
  absl::MutexLock lock(&mu_);
  if (term_scan_pending_) return absl::InfinitePast();
  if (cancelled_ && !kill_sent_) next = std::min(next, kill_deadline_);
  return next;
}

LocalAttempt::CancelWork LocalAttempt::TakeCancelWork(absl::Time now) {
  CancelWork work;
  absl::MutexLock lock(&mu_);
  work.term_scan = std::exchange(term_scan_pending_, false);
  if (cancelled_ && !kill_sent_ && now >= kill_deadline_) {
    kill_sent_ = true;
    work.kill = true;
    work.kill_scan = scan_escapees_;
  }
  return work;
}

void LocalAttempt::DoCancelWork(const CancelWork& work) {
  if (work.term_scan) SignalByExecutionId({execution_id_}, SIGTERM);
  if (work.kill) {
    // Only the loop reaps, so the group id is still ours.
    SignalGroup(pid_, SIGKILL);
    if (work.kill_scan) SignalByExecutionId({execution_id_}, SIGKILL);
  }
}

void LocalAttempt::Finish() {
  AttemptOutcome outcome = Reap();
  pidfd_.Reset();
  // Moved out so that the callback's captures die on this thread, now.
  Executor::DoneCallback done = std::move(on_done_);
  on_done_ = nullptr;
  done(std::move(outcome));
}

AttemptOutcome LocalAttempt::Reap() {
  {
    absl::MutexLock lock(&mu_);
    reaped_ = true;  // From here on the pid may be reused: no more signals.
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  AttemptOutcome outcome;
  if (r < 0) {
    outcome = AttemptOutcome::Error(
        absl::InternalError(absl::StrCat("local: waitpid ", pid_, ": ", strerror(errno))));
  } else if (WIFEXITED(status)) {
    outcome = AttemptOutcome::Exited(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    outcome = AttemptOutcome::Signaled(WTERMSIG(status));
  } else {
    outcome = AttemptOutcome::Error(
        absl::InternalError(absl::StrCat("local: unexpected wait status ", status)));
  }
  outcome.details["pid"] = absl::StrCat(pid_);
  return outcome;
}

}  // namespace automate::internal
