// The dispatcher half of EngineImpl: everything that changes the state of an
// admitted execution runs here, on the dispatcher thread, and every cycle's
// changes reach the store in one batch.
#include <algorithm>
#include <csignal>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "automate/execution.h"
#include "engine/backoff.h"
#include "engine/engine_impl.h"
#include "fmt/core.h"
#include "util/proto_time.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

std::string Rounded(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

// "exit code 3", "killed by signal 9 (Killed)", or the backend's error.
std::string DescribeOutcome(const AttemptOutcome& outcome) {
  const char* oom = outcome.oom_killed ? " (out of memory)" : "";
  if (outcome.exit_code) return absl::StrCat("exit code ", *outcome.exit_code, oom);
  if (outcome.signal) {
    return absl::StrCat("killed by signal ", *outcome.signal, " (", strsignal(*outcome.signal), ")",
                        oom);
  }
  return std::string(outcome.error.message());
}

v1::Attempt* LastAttempt(v1::Execution& exec) {
  if (exec.attempts().empty()) return nullptr;
  return exec.mutable_attempts(exec.attempts_size() - 1);
}

}  // namespace

void EngineImpl::DispatchLoop() {
  while (true) {
    std::vector<std::pair<AttemptHandle*, absl::Duration>> cancels;
    bool poll = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return wake_ || shutdown_ || limit_pending_.load();
      };
      dispatcher_sleeps_until_ = NextWakeLocked();
      clock_->AwaitWithDeadline(&mu_, absl::Condition(&ready), dispatcher_sleeps_until_);
      dispatcher_sleeps_until_ = absl::InfinitePast();
      if (shutdown_) break;
      wake_ = false;
      ProcessCompletionsLocked();
      ProcessTimersLocked();
      ApplyStopsLocked(&cancels);
      absl::Time now = clock_->Now();
      if (options_.poll_interval > absl::ZeroDuration() && now >= next_poll_) {
        poll = true;
        next_poll_ = now + options_.poll_interval;
      }
      ReserveStartsLocked();
    }
    for (auto& [handle, grace] : cancels) handle->Cancel(grace);
    if (poll) PollStore();
  }
}

// Writes what the dispatcher and starters changed, one batch at a time: the
// dispatcher never waits for a commit, and whatever changes while a batch
// commits forms the next, larger batch.
void EngineImpl::WriterLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !dirty_.empty() || !to_close_.empty() || !dead_handles_.empty() || shutdown_;
      };
      mu_.Await(absl::Condition(&ready));
      if (shutdown_) return;  // Shutdown() writes what is left.
    }
    // Busy (recent commits carried more than one execution each, on
    // average): at most one commit per write_interval (real time, whatever
    // clock the engine is given), and what changes meanwhile joins this one.
    // The average, rather than the last commit alone, keeps a steady stream
    // paced even when one commit happens to carry a single execution. One
    // execution at a time is written at once, so a lone Wait() is not held up.
    absl::Time now = absl::Now();
    if (batch_size_average_ > kBusyBatchSize && now < last_write_ + options_.write_interval &&
        now >= last_write_) {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return shutdown_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), last_write_ + options_.write_interval - now);
      if (shutdown_) return;  // Shutdown() writes what is left.
    }
    last_write_ = absl::Now();
    if (!WriteDirty()) {
      // The store is failing (full disk, I/O error): retry, but not in a spin.
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return shutdown_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(100));
    }
  }
}

void EngineImpl::ReserveStartsLocked() {
  for (const RunQueue::Entry& entry :
       queue_.PopStartable(options_.max_running - running_, running_per_job_)) {
    // Reserve the slot now, so the counts hold while a starter starts it.
    Run& run = *runs_.at(entry.id);
    run.running = true;
    run.starting = true;
    ++running_;
    ++running_per_job_[run.exec.job()];
    to_start_.push_back(entry.id);
  }
}

absl::Time EngineImpl::NextWakeLocked() {
  absl::Time next = absl::InfiniteFuture();
  if (!retry_times_.empty()) next = std::min(next, retry_times_.begin()->first);
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  if (options_.poll_interval > absl::ZeroDuration()) next = std::min(next, next_poll_);
  // While attempts run, look around at least this often: a log-limit hit
  // only nudges the dispatcher (it may come from a thread that cannot take
  // mu_), and a nudge that races with the wait must not be lost for good.
  if (running_ > 0) next = std::min(next, clock_->Now() + absl::Milliseconds(100));
  return next;
}

void EngineImpl::WakeDispatcherForLocked(absl::Time at) {
  if (at < dispatcher_sleeps_until_) wake_ = true;
}

void EngineImpl::MarkDirtyLocked(Run& run) {
  *run.exec.mutable_update_time() = ToProto(clock_->Now());
  if (run.dirty) return;
  run.dirty = true;
  dirty_.push_back(run.exec.id());
}

void EngineImpl::ReleaseSlotLocked(Run& run) {
  if (!run.running) return;
  run.running = false;
  --running_;
  if (--running_per_job_[run.exec.job()] <= 0) running_per_job_.erase(run.exec.job());
  run.attempt_deadline = absl::InfiniteFuture();
  if (run.handle != nullptr) dead_handles_.push_back(std::move(run.handle));
}

void EngineImpl::TakeLimitHitsLocked() {
  if (!limit_pending_.exchange(false)) return;
  std::vector<std::string> hits;
  {
    absl::MutexLock limit_lock(&limit_mu_);
    hits.swap(limit_hits_);
  }
  for (const std::string& id : hits) {
    auto it = runs_.find(id);
    if (it != runs_.end()) RequestStopLocked(*it->second, StopReason::kLogLimit, "");
  }
}

void EngineImpl::SettleLocked() {
  ProcessCompletionsLocked();
  if (started_ && !shutdown_) ReserveStartsLocked();
}

void EngineImpl::ProcessCompletionsLocked() {
  // A log limit reached before the end must count for that end: the hit is
  // recorded (by the log, on the executor's thread) before the outcome.
  TakeLimitHitsLocked();
  std::vector<Completion> completions;
  completions.swap(completions_);
  for (Completion& c : completions) {
    auto it = runs_.find(c.id);
    if (it == runs_.end()) continue;
    Run& run = *it->second;
    if (run.starting) {
      // The attempt ended before its starter recorded it (a fast `true`):
      // keep the outcome until StartOne() has, which wakes us again.
      completions_.push_back(std::move(c));
      continue;
    }
    if (!run.running || run.exec.attempts_size() != c.attempt) continue;  // Stale.
    HandleOutcomeLocked(run, c.outcome);
  }
}

void EngineImpl::HandleOutcomeLocked(Run& run, const AttemptOutcome& outcome) {
  absl::Time now = clock_->Now();
  ReleaseSlotLocked(run);
  v1::Attempt* attempt = LastAttempt(run.exec);
  *attempt->mutable_end_time() = ToProto(now);
  if (outcome.exit_code) {
    attempt->set_exit_code(*outcome.exit_code);
    run.exec.set_exit_code(*outcome.exit_code);
  }
  if (outcome.signal) attempt->set_signal(*outcome.signal);
  if (!outcome.error.ok()) attempt->set_error(std::string(outcome.error.message()));
  if (run.log != nullptr) run.log->FlushStreams();
  StopReason stop = run.stop;
  run.stop = StopReason::kNone;
  std::string what = DescribeOutcome(outcome);
  switch (stop) {
    case StopReason::kCancel:
    case StopReason::kReplaced: {
      attempt->set_status(v1::Attempt::CANCELLED);
      std::string why = stop == StopReason::kCancel ? "cancelled"
                                                    : absl::StrCat("replaced by ", run.stop_detail);
      if (run.log != nullptr) run.log->WriteSystem(absl::StrCat("automate: ", why, " (", what, ")"));
      FinishLocked(run, v1::CANCELLED, why);
      return;
    }
    case StopReason::kTimeout: {
      attempt->set_status(v1::Attempt::TIMED_OUT);
      std::string why = absl::StrCat(
          "timed out after ", Rounded(FromProto(run.exec.job_spec().timeout())));
      attempt->set_error(why);
      ScheduleRetryOrFinishLocked(run, v1::TIMED_OUT, why, /*retryable=*/true);
      return;
    }
    case StopReason::kLogLimit:
      attempt->set_status(v1::Attempt::FAILED);
      attempt->set_error("log limit exceeded");
      ScheduleRetryOrFinishLocked(run, v1::FAILED, "log limit exceeded", /*retryable=*/false);
      return;
    default:
      break;
  }
  if (outcome.succeeded()) {
    attempt->set_status(v1::Attempt::SUCCEEDED);
    FinishLocked(run, v1::SUCCEEDED, "");
    return;
  }
  attempt->set_status(v1::Attempt::FAILED);
  bool retryable = outcome.error.ok() || outcome.error.code() == absl::StatusCode::kUnavailable;
  attempt->set_retryable(retryable);
  ScheduleRetryOrFinishLocked(run, v1::FAILED, what, retryable);
}

void EngineImpl::ScheduleRetryOrFinishLocked(Run& run, v1::ExecutionState final_state,
                                             std::string why, bool retryable) {
  int done = run.exec.attempts_size();
  int max = MaxAttempts(run.exec.job_spec().retry());
  if (retryable && done < max && !run.cancel_requested) {
    absl::Duration delay = RetryDelay(run.exec.job_spec().retry(), done + 1, bitgen_);
    absl::Time at = clock_->Now() + delay;
    run.exec.set_state(v1::QUEUED);
    *run.exec.mutable_next_attempt_time() = ToProto(at);
    run.waiting_retry = true;
    run.retry_at = at;
    retry_times_.insert({at, run.exec.id()});
    WakeDispatcherForLocked(at);
    if (run.log != nullptr) {
      run.log->WriteSystem(fmt::format("automate: attempt {} of {} failed ({}); retrying in {}",
                                       done, max, why, Rounded(delay)));
    }
    MarkDirtyLocked(run);
    return;
  }
  if (run.log != nullptr) {
    run.log->WriteSystem(fmt::format("automate: attempt {} of {} failed ({})", done, max, why));
  }
  FinishLocked(run, final_state, why);
}

void EngineImpl::FinishLocked(Run& run, v1::ExecutionState state, std::string error) {
  ReleaseSlotLocked(run);
  run.exec.set_state(state);
  run.exec.set_error(std::move(error));
  run.exec.clear_next_attempt_time();
  *run.exec.mutable_end_time() = ToProto(clock_->Now());
  run.waiting_retry = false;
  if (run.log != nullptr) {
    run.log->FlushStreams();
    run.exec.set_log_bytes(run.log->size());
    to_close_.push_back(run.log);
  }
  MarkDirtyLocked(run);
  finished_.push_back(run.exec.id());
}

void EngineImpl::ProcessTimersLocked() {
  absl::Time now = clock_->Now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto [at, id] = *deadlines_.begin();
    deadlines_.erase(deadlines_.begin());
    auto it = runs_.find(id);
    if (it == runs_.end() || !it->second->running || it->second->attempt_deadline != at) continue;
    RequestStopLocked(*it->second, StopReason::kTimeout, "");
  }
  while (!retry_times_.empty() && retry_times_.begin()->first <= now) {
    auto [at, id] = *retry_times_.begin();
    retry_times_.erase(retry_times_.begin());
    auto it = runs_.find(id);
    if (it == runs_.end() || !it->second->waiting_retry || it->second->retry_at != at) continue;
    Run& run = *it->second;
    run.waiting_retry = false;
    queue_.Push({id, run.exec.job(), run.exec.priority(), run.seq,
                 run.exec.job_spec().concurrency().limit()});
  }
}

void EngineImpl::ApplyStopsLocked(std::vector<std::pair<AttemptHandle*, absl::Duration>>* cancels) {
  std::vector<std::string> ids;
  ids.swap(stop_requests_);
  for (const std::string& id : ids) {
    auto it = runs_.find(id);
    if (it == runs_.end() || IsFinal(it->second->exec.state())) continue;
    Run& run = *it->second;
    if (run.running) {
      // Still starting: the starter re-posts the stop once it has a handle.
      if (run.starting || run.handle == nullptr) continue;
      if (run.log != nullptr) {
        std::string why = run.stop == StopReason::kTimeout  ? "timeout reached"
                          : run.stop == StopReason::kLogLimit ? "log limit exceeded"
                                                              : "cancel requested";
        run.log->WriteSystem(fmt::format("automate: {}; stopping attempt {} (SIGTERM, SIGKILL after {})",
                                         why, run.exec.attempts_size(), Rounded(options_.cancel_grace)));
      }
      cancels->push_back({run.handle.get(), options_.cancel_grace});
      continue;
    }
    // Queued or waiting to retry: nothing runs, so it ends now.
    queue_.Remove(id);
    std::string why = run.stop == StopReason::kReplaced
                          ? absl::StrCat("replaced by ", run.stop_detail)
                          : "cancelled";
    run.stop = StopReason::kNone;
    if (run.log != nullptr) run.log->WriteSystem(absl::StrCat("automate: ", why));
    FinishLocked(run, v1::CANCELLED, why);
  }
}

// ---------------------------------------------------------------------------
// Starting attempts

void EngineImpl::StarterLoop() {
  while (true) {
    std::string id;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !to_start_.empty() || shutdown_;
      };
      mu_.Await(absl::Condition(&ready));
      // Left queued at shutdown: the store still says QUEUED, and the next
      // engine admits them again.
      if (shutdown_) return;
      id = std::move(to_start_.front());
      to_start_.pop_front();
    }
    StartOne(id);
  }
}

absl::StatusOr<std::shared_ptr<ExecutionLog>> EngineImpl::OpenExecutionLog(
    const v1::Execution& exec, bool new_log) {
  ExecutionLogOptions log_options;
  log_options.clock = clock_;
  log_options.new_log = new_log;
  const v1::LogLimit& limit = exec.job_spec().log_limit();
  log_options.limit_bytes = limit.bytes() > 0 ? limit.bytes() : options_.default_log_limit_bytes;
  log_options.limit_action =
      limit.action() == v1::LogLimit::FAIL ? v1::LogLimit::FAIL : v1::LogLimit::TRUNCATE;
  std::string id = exec.id();
  log_options.on_limit_exceeded = [this, id] {
    {
      absl::MutexLock lock(&limit_mu_);
      limit_hits_.push_back(id);
    }
    limit_pending_ = true;
    // Releasing mu_ makes the dispatcher re-check its wait condition; if
    // another thread (or this one) holds mu_, its own release does that.
    if (mu_.TryLock()) mu_.Unlock();
  };
  return ExecutionLog::Open(logs_, id, std::move(log_options));
}

// The outcome is recorded right here, on the executor's thread, and the
// freed slot handed on, rather than on the dispatcher after a wake-up: one
// thread hand-off less per attempt.
Executor::DoneCallback EngineImpl::DoneCallbackFor(const std::string& id, int attempt) {
  return [this, id, attempt](AttemptOutcome outcome) {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    completions_.push_back({id, attempt, std::move(outcome)});
    SettleLocked();
  };
}

std::vector<std::pair<std::string, std::string>> EngineImpl::AttemptEnv(
    const v1::Execution& exec, const std::map<std::string, std::string>& secrets) const {
  std::vector<std::pair<std::string, std::string>> env;
  std::map<std::string, std::string> args(exec.args().begin(), exec.args().end());
  for (auto& [name, value] : args) env.emplace_back(name, value);
  for (auto& [name, value] : secrets) env.emplace_back(name, value);
  return env;
}

absl::Status EngineImpl::PrepareAttempt(const v1::Execution& exec, Executor* executor,
                                        ExecutionLog* log, Executor::StartParams* params) {
  std::vector<std::string> names(exec.job_spec().secrets().begin(),
                                 exec.job_spec().secrets().end());
  std::vector<std::string> executor_names;
  if (executor != nullptr) executor_names = executor->SecretNames(exec.job_spec());
  names.insert(names.end(), executor_names.begin(), executor_names.end());
  std::map<std::string, std::string> revealed;
  if (!names.empty()) {
    AUTOMATE_ASSIGN_OR_RETURN(revealed, store_->RevealSecrets(names));
  }
  std::vector<std::string> values;
  for (auto& [name, value] : revealed) values.push_back(value);
  log->SetSecretValues(std::move(values));
  std::map<std::string, std::string> env_secrets;
  for (const std::string& name : exec.job_spec().secrets()) {
    auto it = revealed.find(name);
    if (it != revealed.end()) env_secrets.insert(*it);
  }
  for (const std::string& name : executor_names) {
    auto it = revealed.find(name);
    if (it != revealed.end()) params->executor_secrets.insert(*it);
  }
  params->env = AttemptEnv(exec, env_secrets);
  return absl::OkStatus();
}

void EngineImpl::StartOne(const std::string& id) {
  v1::Execution exec;
  Executor* executor;
  std::shared_ptr<ExecutionLog> log;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    Run& run = *runs_.at(id);
    // Opened under the lock so that OpenLog() and this never make two.
    if (run.log == nullptr) {
      absl::StatusOr<std::shared_ptr<ExecutionLog>> opened =
          OpenExecutionLog(run.exec, run.new_log);
      if (opened.ok()) run.log = *opened;
      status = Annotate(opened.status(), "open log");
    }
    exec = run.exec;
    executor = run.executor;
    log = run.log;
  }
  int number = exec.attempts_size() + 1;
  std::unique_ptr<AttemptHandle> handle;
  absl::Time start_time = absl::InfinitePast();  // As the backend reported it.
  int64_t log_offset = log != nullptr ? log->size() : 0;
  if (status.ok() && executor == nullptr) {
    status = absl::FailedPreconditionError("this engine has no executor for the job's executor kind");
  }
  if (status.ok()) {
    Executor::StartParams params;
    status = PrepareAttempt(exec, executor, log.get(), &params);
    if (status.ok()) {
      log->StartAttempt();
      if (number > 1) {
        log->WriteSystem(fmt::format("automate: starting attempt {} of {}", number,
                                     MaxAttempts(exec.job_spec().retry())));
      }
      params.execution_id = id;
      params.attempt = number;
      params.job = &exec.job_spec();
      params.log_sink = log.get();
      params.on_done = DoneCallbackFor(id, number);
      params.clock = clock_;
      absl::Time before = clock_->Now();
      // Noted before it can begin: if this engine dies before the writer
      // stores the start, the next one knows the attempt ran. Without the
      // note (a full disk) it starts all the same, as with no journal.
      if (journal_ != nullptr) {
        absl::Status noted = journal_->Record({id, number, log_offset, before});
        if (!noted.ok() && !journal_failed_.exchange(true)) {
          fmt::print(stderr, "automate: {} (attempts start without their note; said once)\n",
                     std::string(noted.message()));
        }
      }
      absl::StatusOr<std::unique_ptr<AttemptHandle>> started = executor->Start(std::move(params));
      status = started.status();
      if (started.ok()) {
        handle = std::move(*started);
        // The backend's own start (a process's creation) when it knows it:
        // Start() may return a scheduler slice later, or after an image
        // pull. Kept within the call, whatever the backend's clock says.
        absl::Time reported = handle->start_time();
        if (reported != absl::InfinitePast()) {
          start_time = std::clamp(reported, before, clock_->Now());
        }
      }
    }
  }
  absl::MutexLock lock(&mu_);
  // Outcomes that arrived while starting (a fast `true`), and slots freed by
  // them or by a failed start, are handled when this returns.
  absl::Cleanup settle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { SettleLocked(); };
  Run& run = *runs_.at(id);
  run.log = log;
  run.starting = false;
  absl::Time now = clock_->Now();
  absl::Time started = start_time == absl::InfinitePast() ? now : start_time;
  v1::Attempt* attempt = run.exec.add_attempts();
  attempt->set_number(number);
  attempt->set_executor(executor != nullptr ? std::string(executor->name()) : "");
  *attempt->mutable_start_time() = ToProto(started);
  attempt->set_log_offset(log_offset);
  run.exec.clear_next_attempt_time();
  if (!run.exec.has_start_time()) *run.exec.mutable_start_time() = ToProto(started);
  if (!status.ok()) {
    ReleaseSlotLocked(run);
    attempt->set_status(v1::Attempt::FAILED);
    attempt->set_error(std::string(status.message()));
    *attempt->mutable_end_time() = ToProto(now);
    bool retryable = status.code() == absl::StatusCode::kUnavailable;
    attempt->set_retryable(retryable);
    if (log != nullptr) {
      log->WriteSystem(absl::StrCat("automate: attempt ", number, " could not start: ", status.message()));
    }
    ScheduleRetryOrFinishLocked(run, v1::FAILED, std::string(status.message()), retryable);
    return;
  }
  attempt->set_status(v1::Attempt::RUNNING);
  attempt->set_external_id(handle->external_id());
  for (auto& [k, v] : handle->executor_state()) (*attempt->mutable_executor_state())[k] = v;
  run.handle = std::move(handle);
  run.exec.set_state(v1::RUNNING);
  absl::Duration timeout = FromProto(run.exec.job_spec().timeout());
  if (timeout > absl::ZeroDuration()) {
    run.attempt_deadline = started + timeout;
    deadlines_.insert({run.attempt_deadline, id});
    WakeDispatcherForLocked(run.attempt_deadline);
  }
  MarkDirtyLocked(run);
  // A stop that arrived while starting (cancel, replace, log limit) was
  // skipped by ApplyStopsLocked(); post it again now that there is a handle.
  if (run.stop != StopReason::kNone) {
    stop_requests_.push_back(id);
    wake_ = true;
  } else if (run.cancel_requested) {
    RequestStopLocked(run, StopReason::kCancel, "");
  }
}

// ---------------------------------------------------------------------------
// Writing and polling

bool EngineImpl::WriteDirty() {
  absl::MutexLock write_lock(&write_mu_);
  std::vector<v1::Execution> batch;
  std::vector<std::shared_ptr<ExecutionLog>> to_close;
  std::vector<std::unique_ptr<AttemptHandle>> dead;
  {
    absl::MutexLock lock(&mu_);
    to_close.swap(to_close_);
    dead.swap(dead_handles_);
    for (const std::string& id : dirty_) {
      auto it = runs_.find(id);
      if (it == runs_.end() || !it->second->dirty) continue;
      it->second->dirty = false;
      batch.push_back(it->second->exec);
    }
    dirty_.clear();
  }
  dead.clear();  // Outside the lock: a handle may wait for its thread.
  // Logs are synced before the final state is written, so a final state in
  // the store always means a complete log on disk.
  for (auto& log : to_close) {
    absl::Status closed = log->Close();
    if (!closed.ok()) fmt::print(stderr, "automate: closing a log: {}\n", std::string(closed.message()));
  }
  if (batch.empty()) return true;
  // An exponential moving average over the last few commits.
  batch_size_average_ = 0.75 * batch_size_average_ + 0.25 * static_cast<double>(batch.size());
  std::vector<v1::Execution*> pointers;
  for (auto& exec : batch) pointers.push_back(&exec);
  absl::Status written = store_->WriteExecutions(pointers);
  absl::MutexLock lock(&mu_);
  if (!written.ok()) {
    // Keep everything dirty and try again on the next cycle.
    fmt::print(stderr, "automate: writing {} executions: {}\n", batch.size(), std::string(written.message()));
    for (auto& exec : batch) {
      auto it = runs_.find(exec.id());
      if (it != runs_.end()) MarkDirtyLocked(*it->second);
    }
    return false;
  }
  for (auto& exec : batch) {
    auto it = runs_.find(exec.id());
    if (it == runs_.end()) continue;
    it->second->exec.set_version(exec.version());
    it->second->exec.set_cancel_requested(exec.cancel_requested());
    it->second->stored_attempts = exec.attempts_size();
  }
  if (journal_ != nullptr && journal_->bytes() > kJournalCompactBytes) {
    mu_.Unlock();
    CompactJournal();
    mu_.Lock();
  }
  // on_change first: once Wait() returns, observers (metrics) have seen the
  // final state too.
  if (options_.on_change) {
    mu_.Unlock();
    for (auto& exec : batch) options_.on_change(exec);
    mu_.Lock();
  }
  std::vector<std::string> still;
  for (const std::string& id : finished_) {
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    if (it->second->dirty) {
      still.push_back(id);
      continue;
    }
    // Final and durable, and equal to the stored record: Wait() returns it
    // without reading the store.
    RememberFinishedLocked(std::move(it->second->exec));
    runs_.erase(it);
  }
  finished_.swap(still);
  return true;
}

void EngineImpl::RememberFinishedLocked(v1::Execution exec) {
  std::string id = exec.id();
  if (finished_recently_.insert_or_assign(id, std::move(exec)).second) {
    finished_order_.push_back(std::move(id));
  }
  while (finished_order_.size() > kFinishedRemembered) {
    finished_recently_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

void EngineImpl::PollStore() {
  absl::MutexLock write_lock(&write_mu_);
  // Two narrow queries rather than every unfinished execution: work other
  // processes submitted, and cancel requests they made.
  ExecutionFilter pending;
  pending.states = {v1::PENDING};
  pending.oldest_first = true;
  pending.limit = 1000;
  absl::StatusOr<ExecutionPage> submitted = store_->ListExecutions(pending);
  ExecutionFilter cancels;
  cancels.states = {v1::PENDING, v1::QUEUED, v1::RUNNING};
  cancels.cancel_requested_only = true;
  cancels.limit = 1000;
  absl::StatusOr<ExecutionPage> cancelled = store_->ListExecutions(cancels);
  absl::MutexLock lock(&mu_);
  if (cancelled.ok()) {
    for (const v1::Execution& exec : cancelled->executions) {
      auto it = runs_.find(exec.id());
      if (it != runs_.end()) RequestStopLocked(*it->second, StopReason::kCancel, "");
    }
  }
  if (submitted.ok()) {
    for (v1::Execution& exec : submitted->executions) {
      if (!runs_.contains(exec.id())) AdmitLocked(std::move(exec));
    }
    // More than one page waiting: look again at once.
    if (!submitted->next_page_token.empty()) next_poll_ = absl::InfinitePast();
  }
}

// ---------------------------------------------------------------------------
// Recovery

namespace {

// Adds to `exec` the attempts that `starts` (from the start journal) noted
// beyond those it records: the last one is running, each earlier one ended
// when the next began (its outcome never reached the store, so it is lost).
void AddUnrecordedStarts(v1::Execution& exec, std::vector<StartJournal::Entry> starts,
                         absl::string_view executor) {
  std::sort(starts.begin(), starts.end(),
            [](const auto& a, const auto& b) { return a.attempt < b.attempt; });
  const int stored = exec.attempts_size();
  for (const StartJournal::Entry& start : starts) {
    if (start.attempt != exec.attempts_size() + 1) continue;  // Stored already.
    if (!exec.attempts().empty()) {
      v1::Attempt& last = *exec.mutable_attempts(exec.attempts_size() - 1);
      if (last.status() == v1::Attempt::RUNNING) {
        last.set_status(v1::Attempt::FAILED);
        last.set_error("engine restarted");
        last.set_retryable(true);
        *last.mutable_end_time() = ToProto(start.time);
      }
    }
    v1::Attempt* attempt = exec.add_attempts();
    attempt->set_number(start.attempt);
    attempt->set_executor(std::string(executor));
    attempt->set_status(v1::Attempt::RUNNING);
    *attempt->mutable_start_time() = ToProto(start.time);
    attempt->set_log_offset(start.log_offset);
    if (!exec.has_start_time()) *exec.mutable_start_time() = ToProto(start.time);
  }
  if (exec.attempts_size() > stored) {
    exec.set_state(v1::RUNNING);
    exec.clear_next_attempt_time();
  }
}

}  // namespace

absl::Status EngineImpl::Recover() {
  AUTOMATE_ASSIGN_OR_RETURN(std::vector<v1::Execution> unfinished, store_->ListUnfinished());
  // Starts the previous engine noted but may not have stored.
  absl::flat_hash_map<std::string, std::vector<StartJournal::Entry>> journaled;
  if (journal_ != nullptr) {
    for (StartJournal::Entry& e : journal_->Entries()) {
      journaled[e.execution_id].push_back(std::move(e));
    }
  }
  // Only an attempt the backend took back may keep its process or
  // container. Whatever still runs for any other execution is an orphan:
  // one queued or pending (with no start in the journal beyond its stored
  // attempts) starts afresh, and a running one whose attempt could not be
  // reattached is lost and may be retried.
  std::set<std::string> live;
  for (v1::Execution& exec : unfinished) {
    const int stored_attempts = exec.attempts_size();
    if (auto it = journaled.find(exec.id()); it != journaled.end()) {
      Executor* executor = ExecutorFor(exec.job_spec());
      AddUnrecordedStarts(exec, std::move(it->second),
                          executor != nullptr ? executor->name() : "");
    }
    if (exec.state() == v1::RUNNING) {
      std::string id = exec.id();
      if (RecoverRunning(std::move(exec), stored_attempts)) live.insert(std::move(id));
    } else {
      absl::MutexLock lock(&mu_);
      AdmitLocked(std::move(exec));
    }
  }
  for (auto& executor : options_.executors) {
    absl::Status cleaned = executor->CleanupOrphans(live);
    if (!cleaned.ok()) {
      fmt::print(stderr, "automate: {}: cleaning up orphans: {}\n", std::string(executor->name()), std::string(cleaned.message()));
    }
  }
  // Once the store has every recovered start, the journal can forget them.
  if (WriteDirty() && journal_ != nullptr) CompactJournal();
  return absl::OkStatus();
}

void EngineImpl::CompactJournal() {
  absl::Status compacted = journal_->Compact([this](std::vector<StartJournal::Entry> entries) {
    absl::MutexLock lock(&mu_);
    std::vector<StartJournal::Entry> kept;
    for (StartJournal::Entry& e : entries) {
      auto it = runs_.find(e.execution_id);
      // Not in runs_: finished, and its final state stored.
      if (it != runs_.end() && it->second->stored_attempts < e.attempt) kept.push_back(std::move(e));
    }
    return kept;
  });
  if (!compacted.ok()) {
    fmt::print(stderr, "automate: {}\n", std::string(compacted.message()));
  }
}

bool EngineImpl::RecoverRunning(v1::Execution exec, int stored_attempts) {
  std::string id = exec.id();
  Executor* executor = ExecutorFor(exec.job_spec());
  absl::StatusOr<std::shared_ptr<ExecutionLog>> log = OpenExecutionLog(exec);
  {
    // Registered as starting before Reattach(): an attempt that already
    // ended reports at once, and its outcome waits for us (as for StartOne).
    absl::MutexLock lock(&mu_);
    auto run = std::make_unique<Run>();
    run->seq = next_seq_++;
    run->executor = executor;
    run->cancel_requested = exec.cancel_requested();
    run->starting = true;
    run->stored_attempts = stored_attempts;
    if (log.ok()) run->log = *log;
    run->exec = exec;
    runs_[id] = std::move(run);
  }
  absl::Status status = log.status();
  std::unique_ptr<AttemptHandle> handle;
  v1::Attempt* attempt = LastAttempt(exec);
  if (status.ok() && (executor == nullptr || attempt == nullptr)) {
    status = absl::NotFoundError("no executor or attempt to reattach");
  }
  if (status.ok()) {
    Executor::ReattachParams params;
    status = PrepareAttempt(exec, executor, log->get(), &params.start);
    // Without these counts a reattached backend would store its output twice.
    absl::StatusOr<StoredOutput> output =
        status.ok() ? ReadStoredOutput(logs_, id, attempt->log_offset())
                    : absl::StatusOr<StoredOutput>(status);
    status = output.status();
    if (status.ok()) {
      params.start.execution_id = id;
      params.start.attempt = attempt->number();
      params.start.job = &exec.job_spec();
      params.start.log_sink = log->get();
      params.start.on_done = DoneCallbackFor(id, attempt->number());
      params.start.clock = clock_;
      params.attempt = *attempt;
      params.log_bytes = (*log)->size();
      params.stdout_bytes = output->stdout_bytes;
      params.stderr_bytes = output->stderr_bytes;
      params.last_log_time = output->last_time;
      absl::StatusOr<std::unique_ptr<AttemptHandle>> reattached = executor->Reattach(std::move(params));
      status = reattached.status();
      if (reattached.ok()) handle = std::move(*reattached);
    }
  }
  absl::MutexLock lock(&mu_);
  absl::Cleanup settle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { SettleLocked(); };
  Run& ref = *runs_.at(id);
  ref.starting = false;
  if (handle != nullptr) {
    ref.handle = std::move(handle);
    ref.running = true;
    ++running_;
    ++running_per_job_[ref.exec.job()];
    absl::Duration timeout = FromProto(ref.exec.job_spec().timeout());
    if (timeout > absl::ZeroDuration()) {
      ref.attempt_deadline = FromProto(LastAttempt(ref.exec)->start_time()) + timeout;
      deadlines_.insert({ref.attempt_deadline, id});
    }
    // (A stop posted meanwhile stays in stop_requests_: the dispatcher,
    // which starts after recovery, applies it.)
    if (ref.cancel_requested) RequestStopLocked(ref, StopReason::kCancel, "");
    // Attempts added from the start journal: the store learns of them.
    if (ref.exec.attempts_size() != ref.stored_attempts) MarkDirtyLocked(ref);
    return true;
  }
  if (ref.exec.attempts().empty()) {
    ref.exec.set_state(v1::QUEUED);
    queue_.Push({id, ref.exec.job(), ref.exec.priority(), ref.seq,
                 ref.exec.job_spec().concurrency().limit()});
    MarkDirtyLocked(ref);
    return false;
  }
  v1::Attempt* lost = LastAttempt(ref.exec);
  lost->set_status(ref.cancel_requested ? v1::Attempt::CANCELLED : v1::Attempt::FAILED);
  lost->set_error("engine restarted");
  lost->set_retryable(true);
  *lost->mutable_end_time() = ToProto(clock_->Now());
  if (ref.log != nullptr) {
    ref.log->FlushStreams();
    ref.log->WriteSystem(absl::StrCat("automate: attempt ", lost->number(),
                                      " was lost: engine restarted (", status.message(), ")"));
  }
  if (ref.cancel_requested) {
    // Asked to stop, and nothing of it runs any more: that is what was asked.
    if (ref.log != nullptr) ref.log->WriteSystem("automate: cancelled");
    FinishLocked(ref, v1::CANCELLED, "cancelled");
    return false;
  }
  ScheduleRetryOrFinishLocked(ref, v1::FAILED, "engine restarted", /*retryable=*/true);
  return false;
}

}  // namespace automate::internal
