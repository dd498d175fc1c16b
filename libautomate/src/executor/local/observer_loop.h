// ObserverLoop: one thread that watches many local attempts with epoll, their
// stdout and stderr pipes and their pidfd (readable once the process has
// exited), and runs their timers (the SIGKILL after a cancel's grace period,
// the drain deadline after an exit). A LocalExecutor has a few of these
// (about one per core) instead of a thread per attempt: creating and joining
// a thread costs about as much as the rest of the executor's work for a short
// job, and one loop handles the events of many attempts per wake-up. The
// trade-off: output is handed to each attempt's LogSink on the loop's
// thread, so a sink that is slow (a stalled disk) delays the other attempts
// of that loop too; their pipes buffer 64 KiB, then their writes wait.
//
// Thread-safety: Add() and Poke() may be called from any thread. The
// attempts' observing methods run on the loop's thread only.
// Lifetime: the loop must outlive every attempt added to it; Stop() returns
// once every added attempt has finished.
#ifndef AUTOMATE_EXECUTOR_LOCAL_OBSERVER_LOOP_H_
#define AUTOMATE_EXECUTOR_LOCAL_OBSERVER_LOOP_H_

#include <pthread.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executor/local/process.h"

namespace automate::internal {

class LocalAttempt;

class ObserverLoop {
 public:
  // Called on the loop's thread after an attempt has finished (its on_done
  // has returned); the loop no longer touches it afterwards.
  using FinishedCallback = std::function<void(LocalAttempt*)>;

  // Starts the thread. Errors: kUnavailable (no descriptors or threads left).
  static absl::StatusOr<std::unique_ptr<ObserverLoop>> Create(FinishedCallback on_finished);
  ~ObserverLoop();  // Stop()s.

  ObserverLoop(const ObserverLoop&) = delete;
  ObserverLoop& operator=(const ObserverLoop&) = delete;

  // A descriptor to watch and the tag its events carry (see
  // LocalAttempt::tag()).
  struct Watched {
    int fd;
    uint64_t tag;
  };

  // Starts watching an attempt's descriptors. On error nothing is watched
  // and the loop does not count the attempt. REQUIRES: the attempt stays
  // alive until on_finished has been called for it.
  absl::Status Add(const std::vector<Watched>& fds) ABSL_LOCKS_EXCLUDED(mu_);

  // `attempt` has a timer or work to do (a cancel arrived): the loop looks at
  // it at once and then on every wake-up until it has finished.
  void Poke(LocalAttempt* attempt) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the thread once every added attempt has finished, and joins it.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops watching `fd` (before the attempt closes it).
  void Unwatch(int fd);

 private:
  ObserverLoop(UniqueFd epoll_fd, UniqueFd wake_fd, FinishedCallback on_finished);

  static void* ThreadMain(void* self);
  void Run();
  void Wake();

  const UniqueFd epoll_fd_;
  const UniqueFd wake_fd_;  // eventfd: Poke() and Stop() wake epoll_wait().
  const FinishedCallback on_finished_;
  std::unique_ptr<char[]> buffer_;  // The loop's read buffer, for every attempt.
  pthread_t thread_{};
  bool joined_ = false;

  absl::Mutex mu_;
  int64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;  // Added and not finished.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Attempts to look at on every wake-up: cancelled or exited ones.
  absl::flat_hash_set<LocalAttempt*> poked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_OBSERVER_LOOP_H_
