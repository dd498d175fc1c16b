#include "executor/local/local_executor.h"

#include <signal.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "executor/local/proc_scan.h"
#include "executor/local/process.h"
#include "util/status_macros.h"

extern char** environ;

namespace automate {
namespace internal {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";
// What a process gets from the engine's environment without inherit_env.
constexpr const char* kMinimalVars[] = {"PATH", "HOME",   "LANG",    "LC_ALL",
                                        "TZ",   "USER",   "LOGNAME", "TMPDIR"};

bool IsEnvName(absl::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_';
  });
}

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

// Names are not secret and may go into messages; values never do.
absl::Status ValidateParamsEnv(const std::vector<std::pair<std::string, std::string>>& env) {
  for (const auto& [name, value] : env) {
    if (!IsEnvName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("local: invalid environment variable name \"", name, "\""));
    }
    if (HasNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("local: value of ", name, " must not contain a NUL byte"));
    }
  }
  return absl::OkStatus();
}

// An ordered set of variables where a later Set() of a name replaces it.
class EnvBuilder {
 public:
  void Set(absl::string_view name, absl::string_view value) {
    auto [it, inserted] = index_.try_emplace(std::string(name), vars_.size());
    if (inserted) {
      vars_.emplace_back(std::string(name), std::string(value));
    } else {
      vars_[it->second].second = std::string(value);
    }
  }
  bool Has(absl::string_view name) const { return index_.contains(name); }
  std::vector<std::pair<std::string, std::string>> Take() { return std::move(vars_); }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
  absl::flat_hash_map<std::string, size_t> index_;
};

SpawnRequest MakeSpawnRequest(const Executor::StartParams& params, absl::string_view tag) {
  const v1::LocalExecutor& local = params.job->executor().local();
  SpawnRequest request;
  request.argv.assign(local.command().begin(), local.command().end());
  request.working_dir = local.working_dir();
  request.clock = params.clock;
  for (auto& [name, value] : BuildChildEnv(params, tag)) {
    if (name == "PATH") request.path = value;
    request.env.push_back(absl::StrCat(name, "=", value));
  }
  return request;
}

// "<pid>:<starttime>" back into its parts.
std::optional<std::pair<pid_t, uint64_t>> ParseExternalId(absl::string_view id) {
  std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(id, ':');
  int pid = 0;
  uint64_t start_time = 0;
  if (!absl::SimpleAtoi(parts.first, &pid) || pid <= 0 ||
      !absl::SimpleAtoi(parts.second, &start_time)) {
    return std::nullopt;
  }
  return std::make_pair(static_cast<pid_t>(pid), start_time);
}

class LocalAttemptHandle : public AttemptHandle {
 public:
  LocalAttemptHandle(std::shared_ptr<LocalAttempt> attempt, std::string external_id,
                     absl::Time start_time)
      : attempt_(std::move(attempt)),
        external_id_(std::move(external_id)),
        start_time_(start_time) {}
  std::string external_id() const override { return external_id_; }
  absl::Time start_time() const override { return start_time_; }
  void Cancel(absl::Duration grace) override { attempt_->Cancel(grace, /*scan_escapees=*/true); }

 private:
  const std::shared_ptr<LocalAttempt> attempt_;
  const std::string external_id_;
  const absl::Time start_time_;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> BuildChildEnv(
    const Executor::StartParams& params, absl::string_view engine_tag) {
  const v1::LocalExecutor& local = params.job->executor().local();
  EnvBuilder env;
  if (local.inherit_env()) {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      absl::string_view var(*entry);
      size_t eq = var.find('=');
      if (eq != absl::string_view::npos && eq > 0) env.Set(var.substr(0, eq), var.substr(eq + 1));
    }
  } else {
    for (const char* name : kMinimalVars) {
      if (const char* value = getenv(name)) env.Set(name, value);
    }
  }
  if (!env.Has("PATH")) env.Set("PATH", kDefaultPath);
  for (const auto& [name, value] : local.env()) env.Set(name, value);
  for (const auto& [name, value] : params.env) env.Set(name, value);
  env.Set("AUTOMATE_EXECUTION_ID", params.execution_id);
  env.Set("AUTOMATE_ATTEMPT", absl::StrCat(params.attempt));
  if (!engine_tag.empty()) env.Set("AUTOMATE_ENGINE_TAG", engine_tag);
  return env.Take();
}

LocalExecutor::~LocalExecutor() {
  std::vector<std::shared_ptr<LocalAttempt>> attempts;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, attempt] : running_) attempts.push_back(attempt);
  }
  std::vector<std::string> ids;
  for (auto& attempt : attempts) {
    // One /proc scan below for all attempts instead of one per attempt.
    attempt->Kill();
    ids.push_back(attempt->execution_id());
  }
  attempts.clear();
  if (!ids.empty()) SignalByExecutionId(ids, SIGKILL);
  std::vector<std::unique_ptr<ObserverLoop>> loops;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](absl::flat_hash_map<LocalAttempt*, std::shared_ptr<LocalAttempt>>* running) {
          return running->empty();
        },
        &running_));
    loops.swap(loops_);
  }
  loops.clear();  // Stops and joins them.
}

absl::Status LocalExecutor::Validate(const v1::JobSpec& job) const {
  if (!job.executor().has_local()) {
    return absl::InvalidArgumentError("executor.local: must be set");
  }
  const v1::LocalExecutor& local = job.executor().local();
  if (local.command().empty()) {
    return absl::InvalidArgumentError("executor.local.command: must not be empty");
  }
  if (local.command(0).empty()) {
    return absl::InvalidArgumentError("executor.local.command[0]: must not be empty");
  }
  for (int i = 0; i < local.command_size(); ++i) {
    if (HasNul(local.command(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("executor.local.command[", i, "]: must not contain a NUL byte"));
    }
  }
  const std::string& dir = local.working_dir();
  if (!dir.empty() && (dir[0] != '/' || HasNul(dir))) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor.local.working_dir: must be an absolute path, got \"", dir, "\""));
  }
  for (const auto& [name, value] : local.env()) {
    if (!IsEnvName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("executor.local.env: invalid variable name \"", name, "\""));
    }
    if (HasNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("executor.local.env.", name, ": value must not contain a NUL byte"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AttemptHandle>> LocalExecutor::Start(StartParams params) {
  if (params.job == nullptr || params.log_sink == nullptr || !params.on_done) {
    return absl::InvalidArgumentError("local: job, log_sink and on_done are required");
  }
  AUTOMATE_RETURN_IF_ERROR(Validate(*params.job));
  AUTOMATE_RETURN_IF_ERROR(ValidateParamsEnv(params.env));
  AUTOMATE_ASSIGN_OR_RETURN(SpawnedProcess process,
                            SpawnProcess(MakeSpawnRequest(params, options_.engine_tag)));
  // The start time tells the process from a later one with the same pid
  // (Reattach). Known from the spawn's timing most of the time, else read
  // now: the process is not reaped before its observer runs, so its /proc
  // entry is there.
  uint64_t start_ticks = process.start_ticks.has_value()
                             ? *process.start_ticks
                             : ReadStartTime(process.pid).value_or(0);
  std::string external_id = absl::StrCat(process.pid, ":", start_ticks);
  absl::Time start_time = process.start_time;
  auto attempt = std::make_shared<LocalAttempt>(params.execution_id, std::move(process),
                                                params.log_sink, std::move(params.on_done));
  AUTOMATE_RETURN_IF_ERROR(Observe(attempt));
  return std::make_unique<LocalAttemptHandle>(std::move(attempt), std::move(external_id),
                                              start_time);
}

absl::StatusOr<std::unique_ptr<AttemptHandle>> LocalExecutor::Reattach(ReattachParams params) {
  // The pipes died with the old engine: nothing can be observed any more, so
  // stop whatever is left and let the engine retry.
  if (auto parsed = ParseExternalId(params.attempt.external_id()); parsed.has_value()) {
    auto [pid, start_time] = *parsed;
    if (ReadStartTime(pid) == start_time) SignalProcessAndGroup(pid, SIGKILL);
  }
  if (!params.start.execution_id.empty()) {
    SignalByExecutionId({params.start.execution_id}, SIGKILL);
  }
  return absl::NotFoundError("local: the process did not survive the engine restart");
}

absl::Status LocalExecutor::CleanupOrphans(const std::set<std::string>& live_execution_ids) {
  if (options_.engine_tag.empty()) return absl::OkStatus();
  std::vector<std::string> own = RunningExecutionIds();
  auto orphan = [&](pid_t, absl::string_view env) {
    std::optional<absl::string_view> tag = FindEnvVar(env, "AUTOMATE_ENGINE_TAG");
    if (!tag.has_value() || *tag != options_.engine_tag) return false;
    std::optional<absl::string_view> id = FindEnvVar(env, "AUTOMATE_EXECUTION_ID");
    if (!id.has_value()) return false;
    std::string execution_id(*id);
    return !live_execution_ids.contains(execution_id) &&
           std::find(own.begin(), own.end(), execution_id) == own.end();
  };
  // A second pass catches children forked while the first one ran.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<pid_t> pids = ScanProcesses(orphan);
    for (pid_t pid : pids) SignalProcessAndGroup(pid, SIGKILL);
    if (pids.empty()) break;
  }
  return absl::OkStatus();
}

absl::Status LocalExecutor::Observe(std::shared_ptr<LocalAttempt> attempt) {
  ObserverLoop* loop;
  {
    absl::MutexLock lock(&mu_);
    if (loops_.empty()) {
      unsigned cores = std::thread::hardware_concurrency();
      size_t count = std::clamp<size_t>(cores, 1, 8);
      for (size_t i = 0; i < count; ++i) {
        absl::StatusOr<std::unique_ptr<ObserverLoop>> made =
            ObserverLoop::Create([this](LocalAttempt* done) { OnFinished(done); });
        if (!made.ok()) {
          if (loops_.empty()) {
            attempt->Abandon();
            return made.status();
          }
          break;  // Fewer loops than planned will do.
        }
        loops_.push_back(std::move(*made));
      }
    }
    loop = loops_[next_loop_++ % loops_.size()].get();
    // Before the loop can see it: it may finish (OnFinished) at once.
    running_[attempt.get()] = attempt;
  }
  absl::Status observed = attempt->Observe(loop);
  if (!observed.ok()) {
    absl::MutexLock lock(&mu_);
    running_.erase(attempt.get());
  }
  return observed;
}

void LocalExecutor::OnFinished(LocalAttempt* attempt) {
  std::shared_ptr<LocalAttempt> released;  // Destroyed after the lock.
  absl::MutexLock lock(&mu_);
  auto it = running_.find(attempt);
  released = std::move(it->second);
  running_.erase(it);
}

std::vector<std::string> LocalExecutor::RunningExecutionIds() {
  std::vector<std::string> ids;
  absl::MutexLock lock(&mu_);
  for (auto& [key, attempt] : running_) ids.push_back(attempt->execution_id());
  return ids;
}

}  // namespace internal

std::unique_ptr<Executor> MakeLocalExecutor(LocalExecutorOptions options) {
  return std::make_unique<internal::LocalExecutor>(std::move(options));
}

}  // namespace automate
