// Spawning and signalling child processes for the local executor.
//
// Children are started with posix_spawn (never fork: copying the page tables
// of a large engine is slow and doubles its commit charge), each in a new
// process group whose id is its pid, with default signal dispositions, an
// empty signal mask, stdin from /dev/null and stdout/stderr on two pipes.
//
// Thread-safety: all functions are thread-safe. Every descriptor we create is
// O_CLOEXEC, so a child spawned by another thread never inherits our pipe
// ends (which would keep them from reaching EOF).
#ifndef AUTOMATE_EXECUTOR_LOCAL_PROCESS_H_
#define AUTOMATE_EXECUTOR_LOCAL_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/clock.h"

namespace automate::internal {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in `path` if it has no '/'.
  std::vector<std::string> env;   // "NAME=value" entries: the child's whole environment.
  std::string path;               // The child's PATH, for the lookup of argv[0].
  std::string working_dir;        // Empty: the engine's working directory.
  Clock* clock = nullptr;         // For SpawnedProcess::start_time; nullptr: Clock::Real().
};

struct SpawnedProcess {
  pid_t pid = -1;  // Also the process group id.
  UniqueFd pidfd;  // Readable once the process has exited.
  UniqueFd stdout_fd;
  UniqueFd stderr_fd;
  // Taken right before posix_spawn: the process's creation, as ps counts it.
  // posix_spawn returns once the child has exec'd, which on a busy machine
  // can be a scheduler time slice later than that.
  absl::Time start_time;
  // The kernel's start time of the process in clock ticks since boot (field
  // 22 of /proc/<pid>/stat), when the spawn did not straddle a tick; else
  // unset, and /proc is the only source.
  std::optional<uint64_t> start_ticks;
};

// The start time, in the clock ticks of /proc/<pid>/stat (field 22), of a
// process created between `before_ns` and `after_ns` (CLOCK_BOOTTIME, the
// clock the kernel stamps it with): known when both fall in one tick.
std::optional<uint64_t> StartTicksBetween(int64_t before_ns, int64_t after_ns);
// CLOCK_BOOTTIME in nanoseconds.
int64_t BootTimeNs();

// Finds the executable for `command` the way execvp would, but in `path` (the
// child's PATH, not ours). Relative entries are taken from `working_dir`.
// Errors: kFailedPrecondition "local: command \"x\" not found in PATH=...".
absl::StatusOr<std::string> ResolveCommand(absl::string_view command, absl::string_view path,
                                           absl::string_view working_dir);
// ResolveCommand(), with what it found remembered for `ttl` (per command,
// PATH and working dir; failures are not remembered): a PATH search is a
// few stat() calls per spawn. So a binary put earlier in PATH, or one
// removed, is seen at most `ttl` later. `now`: real time; an entry is used
// only while `now` lies within `ttl` after it was stored.
absl::StatusOr<std::string> ResolveCommandCached(absl::string_view command, absl::string_view path,
                                                 absl::string_view working_dir, absl::Time now,
                                                 absl::Duration ttl = absl::Seconds(1));

// Starts the process described by `request`. Errors: kFailedPrecondition when
// the command or working directory is missing or unusable; kUnavailable when
// the system is short of processes, memory or descriptors. Messages never
// contain environment values.
absl::StatusOr<SpawnedProcess> SpawnProcess(const SpawnRequest& request);

// kill(-pgid, sig), ignoring errors (the group may already be gone).
// REQUIRES: the group leader has not been reaped yet, so the id is not reused.
void SignalGroup(pid_t pgid, int sig);

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_PROCESS_H_
