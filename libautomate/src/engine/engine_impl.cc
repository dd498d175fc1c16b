#include "engine/engine_impl.h"

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "automate/execution.h"
#include "automate/job.h"
#include "engine/backoff.h"
#include "fmt/core.h"
#include "util/proto_time.h"
#include "util/status_macros.h"

namespace automate::internal {

EngineImpl::EngineImpl(EngineOptions options)
    : options_(std::move(options)),
      store_(options_.store.get()),
      logs_(options_.logs.get()),
      clock_(options_.clock) {}

EngineImpl::~EngineImpl() {
  Shutdown();
  // Handles before executors, executors (which stop their attempts and join
  // their threads) before the logs they write to, logs before the store.
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, run] : runs_) run->handle.reset();
  }
  options_.executors.clear();
  absl::MutexLock lock(&mu_);
  runs_.clear();
}

absl::Status EngineImpl::Start() {
  if (!options_.dispatch) return absl::OkStatus();
  if (!options_.start_journal.empty()) {
    AUTOMATE_ASSIGN_OR_RETURN(journal_, StartJournal::Open(options_.start_journal));
  }
  AUTOMATE_RETURN_IF_ERROR(Recover());
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
    wake_ = true;  // A first cycle for what Recover() admitted.
  }
  // Named, so that `top -H` and profilers tell them apart.
  dispatcher_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "automate-disp");
    DispatchLoop();
  });
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "automate-write");
    WriterLoop();
  });
  unsigned cores = std::thread::hardware_concurrency();
  int starters = static_cast<int>(std::clamp(cores, 2u, 8u));
  for (int i = 0; i < starters; ++i) {
    starters_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "automate-start");
      StarterLoop();
    });
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Jobs

Executor* EngineImpl::ExecutorFor(const v1::JobSpec& spec) const {
  const auto* oneof = spec.executor().GetDescriptor()->FindOneofByName("kind");
  const auto* field = spec.executor().GetReflection()->GetOneofFieldDescriptor(spec.executor(), oneof);
  if (field == nullptr) return nullptr;
  for (const auto& executor : options_.executors) {
    if (executor->name() == field->name()) return executor.get();
  }
  return nullptr;
}

absl::StatusOr<v1::Job> EngineImpl::ApplyJob(const v1::JobSpec& spec) {
  AUTOMATE_RETURN_IF_ERROR(ValidateJobSpec(spec));
  if (!options_.executors.empty()) {
    Executor* executor = ExecutorFor(spec);
    if (executor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("job \"", spec.name(), "\": executor: this engine has no such executor"));
    }
    AUTOMATE_RETURN_IF_ERROR(
        Annotate(executor->Validate(spec), absl::StrCat("job \"", spec.name(), "\"")));
  }
  return store_->PutJob(spec, clock_->Now());
}

absl::StatusOr<v1::Job> EngineImpl::GetJob(absl::string_view name, int64_t version) {
  return store_->GetJob(name, version);
}
absl::StatusOr<std::vector<v1::Job>> EngineImpl::ListJobs() { return store_->ListJobs(); }
absl::StatusOr<std::vector<v1::Job>> EngineImpl::ListJobVersions(absl::string_view name) {
  return store_->ListJobVersions(name);
}
absl::Status EngineImpl::DeleteJob(absl::string_view name) {
  return store_->DeleteJob(name, clock_->Now());
}

// ---------------------------------------------------------------------------
// Submit and cancel

struct EngineImpl::SubmitContext {
  std::map<std::pair<std::string, int64_t>, v1::Job> jobs;  // (name, version asked for).
  std::optional<std::vector<v1::SecretInfo>> secrets;        // Read on first need.
  std::map<std::string, int> earlier;                        // Requests so far per job.
};

absl::StatusOr<v1::Execution> EngineImpl::NewExecution(const SubmitRequest& request,
                                                       absl::Time now, SubmitContext& context) {
  auto key = std::make_pair(request.job, request.job_version);
  auto cached = context.jobs.find(key);
  if (cached == context.jobs.end()) {
    absl::StatusOr<v1::Job> job = store_->GetJob(request.job, request.job_version);
    if (!job.ok()) {
      if (job.status().code() != absl::StatusCode::kNotFound) return job.status();
      return absl::NotFoundError(
          request.job_version == 0
              ? absl::StrCat("job \"", request.job, "\" not found")
              : absl::StrCat("job \"", request.job, "\" has no version ", request.job_version));
    }
    cached = context.jobs.emplace(key, *std::move(job)).first;
  }
  const v1::Job& job = cached->second;
  const v1::JobSpec& spec = job.spec();
  AUTOMATE_ASSIGN_OR_RETURN(auto args, ResolveArgs(spec, request.args));
  std::vector<std::string> needed(spec.secrets().begin(), spec.secrets().end());
  if (Executor* executor = ExecutorFor(spec); executor != nullptr) {
    std::vector<std::string> more = executor->SecretNames(spec);
    needed.insert(needed.end(), more.begin(), more.end());
  }
  if (!needed.empty() && !context.secrets.has_value()) {
    AUTOMATE_ASSIGN_OR_RETURN(context.secrets, store_->ListSecrets());
  }
  for (const std::string& name : needed) {
    bool found = false;
    for (const auto& info : *context.secrets) found = found || info.name() == name;
    if (!found) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job \"", spec.name(), "\" needs secret ", name,
          ", which is not set (automate secret set ", name, ")"));
    }
  }
  int earlier = context.earlier[spec.name()]++;
  if (spec.concurrency().policy() == v1::ConcurrencyPolicy::FORBID &&
      spec.concurrency().limit() > 0) {
    ExecutionFilter filter;
    filter.job = spec.name();
    filter.states = {v1::PENDING, v1::QUEUED, v1::RUNNING};
    filter.limit = 1000;
    AUTOMATE_ASSIGN_OR_RETURN(ExecutionPage page, store_->ListExecutions(filter));
    if (static_cast<int>(page.executions.size()) + earlier >= spec.concurrency().limit()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job \"", spec.name(), "\": concurrency limit of ", spec.concurrency().limit(),
          " reached and its policy is forbid"));
    }
  }
  v1::Execution exec;
  exec.set_id(NewExecutionId(now));
  exec.set_job(spec.name());
  exec.set_job_version(job.version());
  *exec.mutable_job_spec() = spec;
  exec.mutable_args()->insert(args.begin(), args.end());
  exec.set_state(options_.dispatch ? v1::QUEUED : v1::PENDING);
  exec.set_requested_by(request.requested_by);
  *exec.mutable_trigger() = request.trigger;
  if (exec.trigger().kind() == v1::Trigger::KIND_UNSPECIFIED) {
    exec.mutable_trigger()->set_kind(v1::Trigger::MANUAL);
  }
  *exec.mutable_create_time() = ToProto(now);
  *exec.mutable_update_time() = ToProto(now);
  exec.set_priority(spec.priority());
  if (request.audit != nullptr) request.audit->set_target(exec.id());
  return exec;
}

absl::Status EngineImpl::StoreAndAdmit(std::vector<v1::Execution>& execs,
                                       const std::vector<v1::AuditEntry*>& audits) {
  std::vector<v1::Execution*> batch;
  batch.reserve(execs.size());
  for (v1::Execution& exec : execs) batch.push_back(&exec);
  AUTOMATE_RETURN_IF_ERROR(store_->WriteExecutionsAudited(batch, audits));
  if (options_.dispatch) {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      for (const v1::Execution& exec : execs) AdmitLocked(exec, /*new_log=*/true);
    }
  }
  if (options_.on_change) {
    for (const v1::Execution& exec : execs) options_.on_change(exec);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Execution> EngineImpl::Submit(const SubmitRequest& request) {
  SubmitContext context;
  AUTOMATE_ASSIGN_OR_RETURN(v1::Execution exec, NewExecution(request, clock_->Now(), context));
  std::vector<v1::Execution> execs;
  execs.push_back(std::move(exec));
  AUTOMATE_RETURN_IF_ERROR(StoreAndAdmit(execs, {request.audit}));
  return std::move(execs[0]);
}

absl::StatusOr<std::vector<v1::Execution>> EngineImpl::SubmitBatch(
    const std::vector<SubmitRequest>& requests) {
  if (requests.size() > static_cast<size_t>(kMaxSubmitBatch)) {
    return absl::InvalidArgumentError(absl::StrCat("requests: at most ", kMaxSubmitBatch,
                                                   " in one batch, got ", requests.size()));
  }
  SubmitContext context;
  absl::Time now = clock_->Now();
  std::vector<v1::Execution> execs;
  execs.reserve(requests.size());
  std::vector<v1::AuditEntry*> audits;
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<v1::Execution> exec = NewExecution(requests[i], now, context);
    if (!exec.ok()) return Annotate(exec.status(), absl::StrCat("requests[", i, "]"));
    execs.push_back(*std::move(exec));
    audits.push_back(requests[i].audit);
  }
  AUTOMATE_RETURN_IF_ERROR(StoreAndAdmit(execs, audits));
  return execs;
}

void EngineImpl::AdmitLocked(v1::Execution exec, bool new_log) {
  const v1::ConcurrencyPolicy& concurrency = exec.job_spec().concurrency();
  if (concurrency.policy() == v1::ConcurrencyPolicy::REPLACE && concurrency.limit() > 0) {
    for (auto& [other_id, other] : runs_) {
      if (other->exec.job() == exec.job() && !IsFinal(other->exec.state())) {
        RequestStopLocked(*other, StopReason::kReplaced, exec.id());
      }
    }
  }
  auto run = std::make_unique<Run>();
  run->seq = next_seq_++;
  run->executor = ExecutorFor(exec.job_spec());
  run->new_log = new_log;
  run->stored_attempts = exec.attempts_size();
  if (exec.state() == v1::PENDING) {
    exec.set_state(v1::QUEUED);
    run->dirty = true;
    dirty_.push_back(exec.id());
  }
  run->cancel_requested = exec.cancel_requested();
  run->exec = std::move(exec);
  const v1::Execution& e = run->exec;
  if (e.has_next_attempt_time() && FromProto(e.next_attempt_time()) > clock_->Now()) {
    run->waiting_retry = true;
    run->retry_at = FromProto(e.next_attempt_time());
    retry_times_.insert({run->retry_at, e.id()});
  } else {
    queue_.Push({e.id(), e.job(), e.priority(), run->seq, e.job_spec().concurrency().limit()});
  }
  std::string id = e.id();
  bool cancel = run->cancel_requested;
  Run& ref = *run;
  runs_[id] = std::move(run);
  if (cancel) {
    RequestStopLocked(ref, StopReason::kCancel, "");
  } else if (started_ && !shutdown_) {
    // Straight to a starter when a slot is free: one thread hop less
    // between Submit() and the process. What cannot start now starts when
    // a slot frees: whoever frees it reserves the next ones.
    ReserveStartsLocked();
  }
  if (ref.waiting_retry) WakeDispatcherForLocked(ref.retry_at);
}

absl::Status EngineImpl::Cancel(absl::string_view id) {
  if (options_.dispatch) {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(id);
    if (it != runs_.end()) {
      if (IsFinal(it->second->exec.state())) {
        return absl::FailedPreconditionError(
            absl::StrCat("execution ", id, " is already ", StateName(it->second->exec.state())));
      }
      RequestStopLocked(*it->second, StopReason::kCancel, "");
      return absl::OkStatus();
    }
  }
  // Not ours (yet): record the request; the dispatching engine acts on it.
  AUTOMATE_RETURN_IF_ERROR(store_->RequestCancel(id));
  if (options_.dispatch) {
    absl::MutexLock lock(&mu_);
    next_poll_ = absl::InfinitePast();
    wake_ = true;
  }
  return absl::OkStatus();
}

void EngineImpl::RequestStopLocked(Run& run, StopReason reason, std::string detail) {
  if (run.stop != StopReason::kNone && reason != StopReason::kTimeout) return;
  if (run.stop == StopReason::kCancel || run.stop == StopReason::kReplaced) return;
  run.stop = reason;
  run.stop_detail = std::move(detail);
  if (reason == StopReason::kCancel || reason == StopReason::kReplaced) run.cancel_requested = true;
  stop_requests_.push_back(run.exec.id());
  wake_ = true;
}

// ---------------------------------------------------------------------------
// Reading

absl::StatusOr<v1::Execution> EngineImpl::GetExecution(absl::string_view id) {
  return store_->GetExecution(id);
}

absl::StatusOr<ExecutionPage> EngineImpl::ListExecutions(const ExecutionFilter& filter) {
  return store_->ListExecutions(filter);
}

absl::StatusOr<v1::Execution> EngineImpl::Wait(absl::string_view id, absl::Time deadline) {
  if (options_.dispatch) {
    absl::MutexLock lock(&mu_);
    std::string key(id);
    auto done = [this, &key]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return shutdown_ || !runs_.contains(key);
    };
    if (!clock_->AwaitWithDeadline(&mu_, absl::Condition(&done), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("execution ", id, " is not finished yet"));
    }
    auto it = finished_recently_.find(key);
    if (it != finished_recently_.end()) return it->second;
  }
  return PollUntilFinal(id, deadline);
}

absl::StatusOr<v1::Execution> EngineImpl::PollUntilFinal(absl::string_view id, absl::Time deadline) {
  absl::Duration interval = options_.poll_interval > absl::ZeroDuration()
                                ? options_.poll_interval
                                : absl::Milliseconds(20);
  absl::Mutex sleep_mu;
  absl::MutexLock sleep_lock(&sleep_mu);
  while (true) {
    AUTOMATE_ASSIGN_OR_RETURN(v1::Execution exec, store_->GetExecution(id));
    if (IsFinal(exec.state())) return exec;
    absl::Time now = clock_->Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("execution ", id, " is not finished yet"));
    }
    bool never = false;
    clock_->AwaitWithDeadline(&sleep_mu, absl::Condition(&never), std::min(deadline, now + interval));
  }
}

absl::StatusOr<std::unique_ptr<LogReader>> EngineImpl::OpenLog(absl::string_view id,
                                                               int64_t offset, bool follow) {
  if (offset < 0) return absl::InvalidArgumentError("offset: must not be negative");
  AUTOMATE_RETURN_IF_ERROR(store_->GetExecution(id).status());
  if (options_.dispatch) {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(id);
    if (it != runs_.end()) {
      // Queued: open its log now, so the follower is live from the first byte
      // instead of polling the file. StartOne() uses the same log.
      Run& run = *it->second;
      if (run.log == nullptr) {
        absl::StatusOr<std::shared_ptr<ExecutionLog>> opened =
            OpenExecutionLog(run.exec, run.new_log);
        if (opened.ok()) run.log = *opened;
      }
      if (run.log != nullptr) return run.log->NewReader(offset, follow);
    }
  }
  std::string key(id);
  Store* store = store_;
  auto is_final = [store, key]() -> absl::StatusOr<bool> {
    AUTOMATE_ASSIGN_OR_RETURN(v1::Execution exec, store->GetExecution(key));
    return IsFinal(exec.state());
  };
  absl::Duration interval = options_.poll_interval > absl::ZeroDuration()
                                ? options_.poll_interval
                                : absl::Milliseconds(50);
  return NewStoredLogReader(logs_, id, offset, follow, is_final, interval, clock_);
}

// ---------------------------------------------------------------------------
// Secrets

absl::Status EngineImpl::SetSecret(absl::string_view name, absl::string_view value) {
  return store_->SetSecret(name, value, clock_->Now());
}
absl::Status EngineImpl::DeleteSecret(absl::string_view name) { return store_->DeleteSecret(name); }
absl::StatusOr<std::vector<v1::SecretInfo>> EngineImpl::ListSecrets() {
  return store_->ListSecrets();
}

// ---------------------------------------------------------------------------
// Lifecycle

int EngineImpl::ActiveCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(runs_.size());
}

void EngineImpl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  for (std::thread& starter : starters_) starter.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (writer_.joinable()) writer_.join();
  // What the last starts and completions changed (an attempt now RUNNING must
  // be recorded, so that a later engine reattaches to it rather than run it
  // again).
  if (started_) WriteDirty();
  std::vector<std::shared_ptr<ExecutionLog>> logs;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, run] : runs_) {
      if (run->log != nullptr) logs.push_back(run->log);
    }
  }
  for (auto& log : logs) log->Sync().IgnoreError();
}

}  // namespace automate::internal
