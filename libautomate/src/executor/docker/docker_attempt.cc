#include "executor/docker/docker_attempt.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "executor/docker/log_stream.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

// Transport failures while observing a container are retried this often
// before the attempt is given up as lost (the daemon restarting, say).
constexpr int kMaxReconnects = 8;
// How often the container's state and log are read while it runs: soon
// after output, less often while it is quiet. (Not the blocking
// POST /containers/{id}/wait: Podman 4.3 answers it by polling in a busy
// loop, a CPU core per waiting call.)
constexpr absl::Duration kMinPollInterval = absl::Milliseconds(50);
constexpr absl::Duration kMaxPollInterval = absl::Milliseconds(500);
// After a read that brought this much, the next one waits longer.
constexpr int64_t kBulkBytes = 1 << 20;
constexpr absl::Duration kBulkPollInterval = absl::Seconds(1);
// Output handed to the log in one write, at most.
constexpr size_t kMaxBatchBytes = 64 * 1024;
// Pull status lines kept in the execution log; the rest is counted.
constexpr int kMaxPullLines = 40;

}  // namespace

DockerAttempt::DockerAttempt(DockerApi* api, Config config, LogSink* sink,
                             Executor::DoneCallback on_done)
    : api_(api), config_(std::move(config)), sink_(sink), on_done_(std::move(on_done)) {
  poll_seen_.stdout_bytes = config_.stored_stdout_bytes;
  poll_seen_.stderr_bytes = config_.stored_stderr_bytes;
}

DockerAttempt::~DockerAttempt() { JoinStopper(); }

void DockerAttempt::JoinStopper() {
  std::thread stopper;
  {
    absl::MutexLock lock(&mu_);
    stopper = std::move(stopper_);
  }
  if (stopper.joinable()) stopper.join();
}

bool DockerAttempt::abandoned() const {
  absl::MutexLock lock(&mu_);
  return abandoned_;
}

bool DockerAttempt::stop_requested() const {
  absl::MutexLock lock(&mu_);
  return stop_requested_;
}

void DockerAttempt::System(absl::string_view line) { sink_->Write(v1::SYSTEM, line); }

absl::Status DockerAttempt::Redact(const absl::Status& status) const {
  if (status.ok()) return status;
  std::string message(status.message());
  for (const std::string& value : config_.secret_values) {
    if (value.size() >= 3) absl::StrReplaceAll({{value, "******"}}, &message);
  }
  return absl::Status(status.code(), message);
}

void DockerAttempt::Cancel(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (stop_requested_) return;
  stop_requested_ = true;
  grace_ = grace;
  pull_cancel_.Cancel();
  if (started_) StartStopperLocked();
}

void DockerAttempt::Abandon() {
  absl::MutexLock lock(&mu_);
  abandoned_ = true;
  stream_cancel_.Cancel();
  pull_cancel_.Cancel();
}

void DockerAttempt::StartStopperLocked() {
  if (stopper_.joinable()) return;
  const absl::Duration grace = grace_;
  stopper_ = std::thread([this, grace] {
    // The daemon sends SIGTERM, then SIGKILL after `grace`, and answers when
    // the container has stopped (Observe() then sees it exited).
    absl::Status status;
    for (int i = 0; i < 3 && !abandoned(); ++i) {
      status = api_->Stop(config_.container, grace);
      if (status.ok() || status.code() != absl::StatusCode::kUnavailable) break;
      absl::SleepFor(absl::Seconds(1));
    }
    if (!status.ok() && !abandoned()) {
      System(absl::StrCat("automate: could not stop container ", config_.container, ": ",
                          Redact(status).message()));
    }
  });
}

void DockerAttempt::Run() {
  absl::Status status;
  if (config_.reattach) {
    if (config_.start_on_reattach) status = api_->Start(config_.container);
  } else {
    status = CreateAndStart();
  }
  AttemptOutcome outcome;
  if (status.ok()) {
    absl::StatusOr<ContainerState> ended = Observe();
    outcome = ended.ok() ? Finish(*ended) : AttemptOutcome::Error(Redact(ended.status()));
  } else {
    outcome = AttemptOutcome::Error(Redact(status));
  }
  JoinStopper();
  on_done_(std::move(outcome));
}

absl::Status DockerAttempt::Pull() {
  const std::string& image = config_.spec.image();
  System(absl::StrCat("automate: pulling image ", image, " on ", api_->display_name()));
  const absl::Time start = absl::Now();
  int lines = 0;
  absl::Status status = api_->Pull(
      image, config_.registry_auth,
      [&](absl::string_view line) {
        if (++lines <= kMaxPullLines) System(absl::StrCat("automate: pull: ", line));
      },
      &pull_cancel_);
  if (status.code() == absl::StatusCode::kCancelled && stop_requested()) {
    return absl::CancelledError("stopped while pulling the image");
  }
  AUTOMATE_RETURN_IF_ERROR(status);
  System(absl::StrCat("automate: pulled image ", image, " in ",
                      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))),
                      lines > kMaxPullLines ? absl::StrCat(" (", lines - kMaxPullLines,
                                                           " more status lines not shown)")
                                            : ""));
  return absl::OkStatus();
}

absl::StatusOr<std::string> DockerAttempt::CreateWithPull() {
  absl::StatusOr<std::string> id = api_->Create(config_.container, config_.create_body);
  if (!id.ok() && id.status().code() == absl::StatusCode::kFailedPrecondition) {
    // The name is taken: a container an earlier try of this very attempt
    // created (the engine stopped between create and start). Replace it.
    absl::StatusOr<ContainerState> existing = api_->Inspect(config_.container);
    if (existing.ok() && existing->labels[kExecutionLabel] == config_.execution_id) {
      AUTOMATE_RETURN_IF_ERROR(api_->Remove(config_.container));
      id = api_->Create(config_.container, config_.create_body);
    }
  }
  if (id.ok() || id.status().code() != absl::StatusCode::kNotFound) return id;
  // 404 from create: the image is not there.
  if (config_.spec.pull() == v1::DockerExecutor::NEVER) {
    return absl::NotFoundError(absl::StrCat("docker: image ", config_.spec.image(),
                                            " is not present on ", api_->display_name(),
                                            " and the job's pull policy is never"));
  }
  AUTOMATE_RETURN_IF_ERROR(Pull());
  return api_->Create(config_.container, config_.create_body);
}

absl::Status DockerAttempt::CreateAndStart() {
  if (stop_requested()) return absl::CancelledError("stopped before the container was created");
  AUTOMATE_RETURN_IF_ERROR(api_->EnsureVersion());
  if (config_.spec.pull() == v1::DockerExecutor::ALWAYS) AUTOMATE_RETURN_IF_ERROR(Pull());
  AUTOMATE_RETURN_IF_ERROR(CreateWithPull().status());
  if (abandoned()) {
    // The next engine finds it "created" and starts it.
    return absl::UnavailableError("engine shut down before the container started");
  }
  if (stop_requested()) {
    RemoveContainer();
    return absl::CancelledError("stopped before the container started");
  }
  absl::Status started = api_->Start(config_.container);
  if (!started.ok()) {
    RemoveContainer();
    return started;
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  if (stop_requested_) StartStopperLocked();
  return absl::OkStatus();
}

absl::Status DockerAttempt::ReadNewOutput(int64_t* emitted) {
  // Records of one stream and (about) one time go to the sink together:
  // one write per record would cost more than the daemon's read.
  struct Pending {
    v1::LogStream stream = v1::STDOUT;
    absl::Time time;
    std::string data;
  } pending;
  auto flush = [&] {
    if (pending.data.empty()) return;
    sink_->Write(pending.stream, pending.data, pending.time);
    pending.data.clear();
  };
  LogStreamDecoder decoder(
      /*timestamps=*/true, poll_start_, poll_seen_,
      [&](v1::LogStream stream, absl::string_view data, absl::Time time) {
        if (!pending.data.empty() &&
            (stream != pending.stream || pending.data.size() >= kMaxBatchBytes ||
             absl::AbsDuration(time - pending.time) >= absl::Milliseconds(1))) {
          flush();
        }
        if (pending.data.empty()) {
          pending.stream = stream;
          pending.time = time;
        }
        pending.data.append(data.data(), data.size());
      });
  absl::Cleanup flush_at_end = flush;
  absl::Status decode_error;
  absl::Status status = api_->Logs(
      config_.container, poll_since_,
      [&](absl::string_view data) {
        decode_error = decoder.Add(data);
        return decode_error.ok();
      },
      &stream_cancel_);
  // What was emitted stays emitted, even from a read that failed midway.
  poll_seen_.stdout_bytes = std::max(poll_seen_.stdout_bytes, decoder.position().stdout_bytes);
  poll_seen_.stderr_bytes = std::max(poll_seen_.stderr_bytes, decoder.position().stderr_bytes);
  if (decoder.last_second() > poll_since_) {
    poll_since_ = decoder.last_second();
    poll_start_ = decoder.position_at_last_second();
  }
  *emitted = decoder.emitted_bytes();
  return decode_error.ok() ? status : decode_error;
}

absl::StatusOr<ContainerState> DockerAttempt::Observe() {
  // Two schedules: the container's state (cheap) is asked often, so that its
  // end is seen soon; the log (costly on a long log: the daemon parses its
  // whole file each time) is read soon after output, less often when quiet,
  // rarely while output pours, and once more when the container has ended.
  absl::Duration state_interval = kMinPollInterval;
  absl::Duration read_interval = kMinPollInterval;
  absl::Time next_read = absl::Now() + read_interval;
  int failures = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&abandoned_),
                           std::min(state_interval, std::max(absl::ZeroDuration(),
                                                             next_read - absl::Now())));
      if (abandoned_) return absl::UnavailableError("engine shut down while the container ran");
    }
    // State first: once it says the container ended, the read after it is
    // the whole log.
    absl::StatusOr<ContainerState> state = api_->Inspect(config_.container);
    absl::Status status = state.status();
    // Only these are ends: a container being stopped is not running
    // either, and Podman shows it with exit code 0 until it has exited.
    const bool ended = state.ok() && (state->status == "exited" || state->status == "dead");
    if (status.ok() && (ended || absl::Now() >= next_read)) {
      int64_t emitted = 0;
      const absl::Time read_start = absl::Now();
      status = ReadNewOutput(&emitted);
      if (status.ok()) {
        if (ended) return state;
        read_interval = emitted > 0 ? kMinPollInterval
                                    : std::min(read_interval * 3 / 2, kMaxPollInterval);
        if (emitted >= kBulkBytes) read_interval = kBulkPollInterval;
        // Reading takes at most a fifth of the daemon's time.
        read_interval = std::max(read_interval, 4 * (absl::Now() - read_start));
        next_read = absl::Now() + read_interval;
      }
    }
    if (status.ok()) {
      failures = 0;
      state_interval = std::min(state_interval * 3 / 2, kMaxPollInterval);
      continue;
    }
    if (status.code() == absl::StatusCode::kNotFound) {
      return absl::UnavailableError(
          absl::StrCat("docker: container ", config_.container, " was removed while it ran"));
    }
    if (status.code() != absl::StatusCode::kUnavailable || ++failures > kMaxReconnects) {
      return status;
    }
    state_interval = std::min(absl::Milliseconds(100) * (1 << failures), absl::Seconds(5));
  }
}

AttemptOutcome DockerAttempt::Finish(const ContainerState& ended) {
  const int code = ended.exit_code;
  AttemptOutcome outcome = AttemptOutcome::Exited(code);
  outcome.oom_killed = ended.oom_killed;
  outcome.details["container"] = config_.container;
  const bool stopped = stop_requested();
  if (config_.spec.keep_failed_containers() && code != 0 && !stopped) {
    System(absl::StrCat("automate: kept container ", config_.container,
                        " for inspection (keep_failed_containers)"));
    return outcome;
  }
  RemoveContainer();
  return outcome;
}

void DockerAttempt::RemoveContainer() {
  absl::Status removed = api_->Remove(config_.container);
  if (!removed.ok()) {
    System(absl::StrCat("automate: could not remove container ", config_.container, ": ",
                        Redact(removed).message()));
  }
}

}  // namespace automate::internal
