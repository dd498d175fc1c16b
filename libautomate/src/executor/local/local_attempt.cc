#include "executor/local/local_attempt.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "executor/local/proc_scan.h"

namespace automate::internal {
namespace {

constexpr size_t kReadSize = 64 * 1024;
// How long output may keep flowing after the main process exited and its
// group was killed: only a process that escaped the group can hold a pipe.
constexpr absl::Duration kDrainTimeout = absl::Seconds(2);
constexpr absl::Duration kDrainAfterScanTimeout = absl::Milliseconds(500);

int ToPollTimeout(absl::Duration left) {
  if (left <= absl::ZeroDuration()) return 0;
  // Round up, so that we never wake just before the deadline and spin.
  int64_t ms = absl::ToInt64Milliseconds(left) + 1;
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace

absl::StatusOr<std::shared_ptr<LocalAttempt>> LocalAttempt::Create(
    std::string execution_id, SpawnedProcess process, LogSink* sink,
    Executor::DoneCallback on_done) {
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    int err = errno;
    SignalGroup(process.pid, SIGKILL);
    waitpid(process.pid, nullptr, 0);
    return absl::UnavailableError(absl::StrCat("local: eventfd: ", strerror(err)));
  }
  return std::shared_ptr<LocalAttempt>(new LocalAttempt(
      std::move(execution_id), std::move(process), UniqueFd(wake), sink, std::move(on_done)));
}

LocalAttempt::LocalAttempt(std::string execution_id, SpawnedProcess process, UniqueFd wake_fd,
                           LogSink* sink, Executor::DoneCallback on_done)
    : execution_id_(std::move(execution_id)),
      pid_(process.pid),
      wake_fd_(std::move(wake_fd)),
      process_(std::move(process)),
      sink_(sink),
      on_done_(std::move(on_done)),
      buffer_(new char[kReadSize]) {}

void LocalAttempt::Cancel(absl::Duration grace, bool scan_escapees) {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;
  bool changed = false;
  if (!cancelled_) {
    cancelled_ = true;
    // mu_ keeps the observer from reaping meanwhile, so the group id is ours.
    SignalGroup(pid_, SIGTERM);
    changed = true;
  }
  if (scan_escapees && !scan_escapees_) {
    scan_escapees_ = true;
    term_scan_pending_ = true;  // The /proc scan is slow: the observer does it.
    changed = true;
  }
  absl::Time deadline = absl::Now() + std::max(grace, absl::ZeroDuration());
  if (deadline < kill_deadline_) {
    kill_deadline_ = deadline;
    changed = true;
  }
  if (changed) Wake();
}

void LocalAttempt::Kill() {
  absl::MutexLock lock(&mu_);
  if (reaped_) return;
  SignalGroup(pid_, SIGKILL);
  cancelled_ = true;
  kill_deadline_ = absl::InfinitePast();  // The observer repeats the kill.
  Wake();
}

void LocalAttempt::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_.get(), &one, sizeof(one));
}

void LocalAttempt::Observe() {
  WatchUntilExit();
  FinishAfterExit();
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

void LocalAttempt::WatchUntilExit() {
  for (;;) {
    pollfd fds[4] = {{process_.stdout_fd.get(), POLLIN, 0},
                     {process_.stderr_fd.get(), POLLIN, 0},
                     {process_.pidfd.get(), POLLIN, 0},
                     {wake_fd_.get(), POLLIN, 0}};
    int n = poll(fds, 4, PollTimeoutMs());
    // Other errors cannot happen with valid descriptors; finishing (which
    // kills the group) is better than spinning.
    if (n < 0 && errno != EINTR) return;
    if (fds[3].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_.get(), &count, sizeof(count));
    }
    DoCancelWork(TakeCancelWork());
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents != 0) ReadOnce(i);
    }
    if (fds[2].revents != 0) return;
  }
}

void LocalAttempt::FinishAfterExit() {
  // Background processes must not outlive the attempt (as systemd does for a
  // service). The leader is not reaped yet, so the group id is still ours.
  SignalGroup(pid_, SIGKILL);
  bool scan;
  {
    absl::MutexLock lock(&mu_);
    scan = cancelled_ && scan_escapees_;
  }
  if (scan) SignalByExecutionId({execution_id_}, SIGKILL);
  if (!DrainUntil(absl::Now() + kDrainTimeout)) {
    // Something that left the group (setsid) holds a pipe open. Rare, so a
    // /proc scan is affordable here.
    SignalByExecutionId({execution_id_}, SIGKILL);
    DrainUntil(absl::Now() + kDrainAfterScanTimeout);
  }
  AttemptOutcome outcome = Reap();
  process_.stdout_fd.Reset();
  process_.stderr_fd.Reset();
  process_.pidfd.Reset();
  // Moved out so that the callback's captures die on this thread, now.
  Executor::DoneCallback done = std::move(on_done_);
  on_done_ = nullptr;
  done(std::move(outcome));
}

void LocalAttempt::ReadOnce(int index) {
  UniqueFd& fd = index == 0 ? process_.stdout_fd : process_.stderr_fd;
  if (!fd.valid()) return;
  ssize_t n = read(fd.get(), buffer_.get(), kReadSize);
  if (n > 0) {
    sink_->Write(index == 0 ? v1::STDOUT : v1::STDERR,
                 absl::string_view(buffer_.get(), static_cast<size_t>(n)));
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  fd.Reset();  // EOF, or an error that reading again will not fix.
}

bool LocalAttempt::DrainUntil(absl::Time deadline) {
  while (process_.stdout_fd.valid() || process_.stderr_fd.valid()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{process_.stdout_fd.get(), POLLIN, 0},
                     {process_.stderr_fd.get(), POLLIN, 0}};
    int n = poll(fds, 2, ToPollTimeout(left));
    if (n < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents != 0) ReadOnce(i);
    }
  }
  return true;
}

int LocalAttempt::PollTimeoutMs() {
  absl::MutexLock lock(&mu_);
  if (!cancelled_ || kill_sent_) return -1;
  return ToPollTimeout(kill_deadline_ - absl::Now());
}

LocalAttempt::CancelWork LocalAttempt::TakeCancelWork() {
  CancelWork work;
  absl::MutexLock lock(&mu_);
  work.term_scan = std::exchange(term_scan_pending_, false);
  if (cancelled_ && !kill_sent_ && absl::Now() >= kill_deadline_) {
    kill_sent_ = true;
    work.kill = true;
    work.kill_scan = scan_escapees_;
  }
  return work;
}

void LocalAttempt::DoCancelWork(const CancelWork& work) {
  if (work.term_scan) SignalByExecutionId({execution_id_}, SIGTERM);
  if (work.kill) {
    // Only this thread reaps, so the group id is still ours.
    SignalGroup(pid_, SIGKILL);
    if (work.kill_scan) SignalByExecutionId({execution_id_}, SIGKILL);
  }
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
