// One attempt of the docker executor, observed by one thread (Run()):
//   pull (policy) -> create -> start -> follow the log -> wait -> remove
// or, after an engine restart, from "follow the log" on, resuming after the
// bytes the engine stored. Cancel() stops the container (SIGTERM, SIGKILL after the
// grace period) from a thread of its own; Abandon() makes Run() return soon
// and leave the container alone (engine shutdown).
//
// Thread-safety: Cancel() and Abandon() may be called from any thread while
// Run() runs on another.
#ifndef AUTOMATE_EXECUTOR_DOCKER_DOCKER_ATTEMPT_H_
#define AUTOMATE_EXECUTOR_DOCKER_DOCKER_ATTEMPT_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/executor.h"
#include "automate/v1/job.pb.h"
#include "executor/docker/docker_api.h"
#include "executor/docker/log_stream.h"

namespace automate::internal {

class DockerAttempt {
 public:
  struct Config {
    std::string execution_id;
    int attempt = 1;
    std::string container;    // Its name: what every call uses.
    v1::DockerExecutor spec;
    std::string create_body;  // Holds secrets: never logged.
    std::string registry_auth;
    std::vector<std::string> secret_values;  // Masked out of error messages.
    bool reattach = false;
    bool start_on_reattach = false;  // The engine stopped between create and start.
    // Reattach: this attempt's output the engine stored already.
    int64_t stored_stdout_bytes = 0;
    int64_t stored_stderr_bytes = 0;
  };

  DockerAttempt(DockerApi* api, Config config, LogSink* sink, Executor::DoneCallback on_done);
  ~DockerAttempt();

  // Observes the attempt to its end and calls on_done (exactly once).
  void Run();
  void Cancel(absl::Duration grace) ABSL_LOCKS_EXCLUDED(mu_);
  void Abandon() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& container() const { return config_.container; }

 private:
  // Pull (as the policy says), create and start. On error the container (if
  // any) is removed.
  absl::Status CreateAndStart();
  absl::StatusOr<std::string> CreateWithPull();
  absl::Status Pull();
  // Reads the container's state and its log while it runs, and the log once
  // more when it has ended; its final state.
  absl::StatusOr<ContainerState> Observe();
  // One plain (not follow) read of the log from poll_since_ on; emits what
  // is new. Podman 4.3's follow stream drops and garbles records under load,
  // so the log is read in whole pieces instead: exact, whatever the daemon.
  absl::Status ReadNewOutput(int64_t* emitted);
  // The outcome; removes the container (unless kept).
  AttemptOutcome Finish(const ContainerState& ended);
  // Removes the container; a failure is noted in the log.
  void RemoveContainer();
  void JoinStopper() ABSL_LOCKS_EXCLUDED(mu_);
  void StartStopperLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool abandoned() const ABSL_LOCKS_EXCLUDED(mu_);
  bool stop_requested() const ABSL_LOCKS_EXCLUDED(mu_);
  // `status` with secret values masked out of its message.
  absl::Status Redact(const absl::Status& status) const;
  void System(absl::string_view line);

  DockerApi* const api_;
  const Config config_;
  LogSink* const sink_;
  Executor::DoneCallback on_done_;
  StreamCancel stream_cancel_;  // Abandon(): every stream.
  StreamCancel pull_cancel_;    // Cancel() or Abandon(): the pull.

  // Read positions (Observe() only): the next read asks for records from
  // second poll_since_ on, which start at poll_start_; what is before
  // poll_seen_ was emitted (or stored before a reattach).
  int64_t poll_since_ = 0;
  StreamPositions poll_start_;
  StreamPositions poll_seen_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration grace_ ABSL_GUARDED_BY(mu_);
  std::thread stopper_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_DOCKER_ATTEMPT_H_
