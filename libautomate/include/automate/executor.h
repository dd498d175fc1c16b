// The seam between the engine and the backends that run attempts: local
// processes, Docker containers, Kubernetes Jobs, EC2 instances, remote agents.
//
// The engine asks an Executor to Start() an attempt and gets an AttemptHandle
// back. From then on the backend reports to the engine, never the other way
// round: output goes to the LogSink, and the outcome to `on_done`, exactly
// once, from any thread. That one shape covers a child process (a thread
// waits for it), a container or a Kubernetes Job (a watch), and backends that
// learn the outcome from an HTTP callback (EC2, agents). Deadlines, retries,
// cancellation policy and bookkeeping stay in the engine.
//
// After an engine restart the engine calls Reattach() for every attempt that
// was running, with what it had stored about it (external_id, executor_state,
// how much of the log it holds), then CleanupOrphans() with every live id.
//
// Thread-safety: Executor and AttemptHandle are thread-safe.
// Ownership: the engine owns executors and handles; it keeps the LogSink alive
// until `on_done` has returned.
#ifndef AUTOMATE_EXECUTOR_H_
#define AUTOMATE_EXECUTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/clock.h"
#include "automate/export.h"
#include "automate/log.h"
#include "automate/v1/execution.pb.h"
#include "automate/v1/job.pb.h"

namespace automate {

// How an attempt ended. Exactly one of: exit_code set, signal set, or
// error non-OK (the backend could not run it or lost it).
struct AttemptOutcome {
  std::optional<int> exit_code;
  std::optional<int> signal;
  // kUnavailable: the backend failed in a way a retry can help (daemon down,
  // engine restarted). Other codes: a retry cannot help (bad image, bad
  // command). The message is shown to users; never put secrets in it.
  absl::Status error;
  bool oom_killed = false;
  // Backend-specific facts worth keeping (container id, node, ...).
  std::map<std::string, std::string> details;

  static AttemptOutcome Exited(int code) {
    AttemptOutcome o;
    o.exit_code = code;
    return o;
  }
  static AttemptOutcome Signaled(int sig) {
    AttemptOutcome o;
    o.signal = sig;
    return o;
  }
  static AttemptOutcome Error(absl::Status status) {
    AttemptOutcome o;
    o.error = std::move(status);
    return o;
  }
  bool succeeded() const { return exit_code.has_value() && *exit_code == 0; }
};

class AUTOMATE_EXPORT AttemptHandle {
 public:
  virtual ~AttemptHandle() = default;
  // The backend's id for the attempt (pid, container id, ...), stored by the
  // engine and given back to Reattach().
  virtual std::string external_id() const = 0;
  // Opaque state the engine stores with the attempt and gives back to
  // Reattach() (for example the last log timestamp seen).
  virtual std::map<std::string, std::string> executor_state() const { return {}; }
  // When the attempt began to run, by StartParams::clock: for a process the
  // moment it was created (what ps and systemd count as its start), for a
  // container the moment it was started. InfinitePast() when the backend
  // cannot tell; the engine then takes the time Start() returned. Read once,
  // right after Start() returns; the engine keeps it within that call.
  virtual absl::Time start_time() const { return absl::InfinitePast(); }
  // Asks the attempt to stop: a polite stop (SIGTERM) now and a forced one
  // (SIGKILL) after `grace`, for the whole process tree. Returns at once;
  // `on_done` reports the end. Idempotent; a no-op once done.
  virtual void Cancel(absl::Duration grace) = 0;
};

class AUTOMATE_EXPORT Executor {
 public:
  using DoneCallback = std::function<void(AttemptOutcome)>;

  struct StartParams {
    std::string execution_id;
    int attempt = 1;
    const v1::JobSpec* job = nullptr;  // Borrowed, for the call only.
    // Environment from params and secrets, to add to the job's own env.
    // Secret values are here and nowhere else: never log them.
    std::vector<std::pair<std::string, std::string>> env;
    // The values of the secrets named by SecretNames() (registry
    // credentials...), by name; not part of the environment. Never log them.
    std::map<std::string, std::string> executor_secrets;
    LogSink* log_sink = nullptr;  // Borrowed; outlives on_done.
    DoneCallback on_done;         // Called exactly once after the last Write.
    // The engine's clock, for AttemptHandle::start_time(); nullptr means
    // Clock::Real(). Borrowed; valid until `on_done` has run.
    Clock* clock = nullptr;
  };

  struct ReattachParams {
    StartParams start;        // As for Start; the env is rebuilt.
    v1::Attempt attempt;      // As stored: external_id, executor_state, ...
    int64_t log_bytes = 0;    // How much of the log the engine has stored.
    // Of this attempt's output, the bytes of stdout and of stderr the engine
    // has stored: a backend that can read the output again from its start
    // skips these (exact, whatever its timestamps' precision). Secret values
    // in the output are stored masked, so around them the count may be off.
    int64_t stdout_bytes = 0;
    int64_t stderr_bytes = 0;
    // Of this attempt's last stored stdout/stderr chunk (its source_time when
    // the backend gave one); InfinitePast() if there is none. For backends
    // whose logs resume by time with a precision the counts above do not need.
    absl::Time last_log_time = absl::InfinitePast();
  };

  virtual ~Executor() = default;

  // The executor kind; matches the case of ExecutorSpec ("local", "docker").
  virtual absl::string_view name() const = 0;

  // Checks what only this executor knows about a job's executor spec.
  // kInvalidArgument with "executor.<kind>.<field>: problem".
  virtual absl::Status Validate(const v1::JobSpec& job) const {
    (void)job;
    return absl::OkStatus();
  }

  // Secrets this executor needs for `job` besides job.secrets (which become
  // environment variables): the engine checks they exist at submit, reveals
  // them into StartParams::executor_secrets and masks them in logs.
  virtual std::vector<std::string> SecretNames(const v1::JobSpec& job) const {
    (void)job;
    return {};
  }

  // Starts one attempt. A run that exits non-zero is not an error here: it is
  // reported through on_done. Errors (on_done is then never called):
  // kUnavailable when the backend cannot be reached (retry may help),
  // kInvalidArgument/kFailedPrecondition when it never can run.
  virtual absl::StatusOr<std::unique_ptr<AttemptHandle>> Start(StartParams params) = 0;

  // Finds an attempt started by an earlier engine and goes on observing it
  // (logs resume after what the engine stored: `stdout_bytes`/`stderr_bytes`
  // or `last_log_time`; outcome via on_done, at once if it finished
  // meanwhile). Errors (on_done is never called):
  // kNotFound when the backend no longer has it; kUnavailable when it
  // cannot be reached now. Backends whose attempts cannot outlive the engine
  // (local processes) stop what is left and return kNotFound.
  virtual absl::StatusOr<std::unique_ptr<AttemptHandle>> Reattach(ReattachParams params) = 0;

  // Removes backend resources created by automate for executions that are not
  // in `live_execution_ids` (containers, Jobs, instances). Called after
  // reattaching.
  virtual absl::Status CleanupOrphans(const std::set<std::string>& live_execution_ids) {
    (void)live_execution_ids;
    return absl::OkStatus();
  }
};

}  // namespace automate

#endif  // AUTOMATE_EXECUTOR_H_
