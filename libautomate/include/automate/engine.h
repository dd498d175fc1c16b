// The Engine: libautomate's facade. It keeps the job catalogue, accepts
// executions, queues and dispatches them to executors, retries them, enforces
// deadlines, cancels them, records everything in a Store, and serves logs.
//
// One dispatching engine owns a store at a time (the CLI guards a state dir
// with a lock). Other processes may open the same store with an engine whose
// `dispatch` is false: it submits, cancels, reads and follows through the
// store, and the dispatching engine (with a `poll_interval`) picks the work up.
//
// Example:
//   automate::EngineOptions options;
//   AUTOMATE_ASSIGN_OR_RETURN(options, automate::DefaultEngineOptions("/var/lib/automate"));
//   AUTOMATE_ASSIGN_OR_RETURN(auto engine, automate::Engine::Open(std::move(options)));
//   AUTOMATE_ASSIGN_OR_RETURN(auto jobs, automate::LoadJobFile("backup.yaml"));
//   engine->ApplyJob(jobs[0]);
//   auto execution = engine->Submit({.job = "db-backup", .args = {{"DATABASE", "orders"}}});
//   engine->Wait(execution->id(), absl::InfiniteFuture());
//
// Thread-safety: every method is thread-safe. No exception crosses this API.
#ifndef AUTOMATE_ENGINE_H_
#define AUTOMATE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/clock.h"
#include "automate/docker_executor.h"
#include "automate/executor.h"
#include "automate/export.h"
#include "automate/log.h"
#include "automate/store.h"
#include "automate/v1/execution.pb.h"
#include "automate/v1/job.pb.h"

namespace automate {

struct EngineOptions {
  std::unique_ptr<Store> store;                      // Owned. Required.
  std::unique_ptr<LogStore> logs;                    // Owned. Required.
  std::vector<std::unique_ptr<Executor>> executors;  // Owned. Required if dispatching.
  Clock* clock = Clock::Real();                      // Borrowed; outlives the engine.
  // false: a client of a store that another engine dispatches.
  bool dispatch = true;
  int max_running = 16;                              // Attempts running at once.
  absl::Duration cancel_grace = absl::Seconds(10);   // SIGTERM → SIGKILL.
  int64_t default_log_limit_bytes = int64_t{100} << 20;  // When a job sets none.
  // > 0: pick up executions and cancel requests that other processes write to
  // the store, and (for non-dispatching engines) watch states, this often.
  absl::Duration poll_interval = absl::ZeroDuration();
  // While busy (its recent commits carried more than one execution each, on
  // average), the engine commits state changes (starts, outcomes, retries)
  // at most this often, in real time: every change made meanwhile shares the
  // next commit and its fsync. Otherwise a change is committed at once, so
  // one job at a time is not slowed down. It bounds how much later than the
  // change itself a final state is durable (and Wait() returns) under load.
  // Zero: commit whenever anything changed. Submit() is not delayed: it
  // commits its own executions.
  absl::Duration write_interval = absl::Milliseconds(5);
  // Called after every durable change of an execution's state, from an engine
  // thread; must not block. For metrics and notifications.
  std::function<void(const v1::Execution&)> on_change;
  // A file where a dispatching engine notes each attempt just before it
  // starts (one write, no fsync), so that the next engine on this store
  // reconciles an attempt whose start was not yet committed when this one
  // died (reattached, or lost and retried per the job's policy) rather than
  // running the execution again from scratch. Empty: no journal, and such
  // an attempt may run twice. DefaultEngineOptions() sets
  // <state_dir>/starts.journal. One dispatching engine per file.
  std::string start_journal;
};

// Where front-ends keep state when told nothing: $AUTOMATE_STATE_DIR, else
// $XDG_DATA_HOME/automate, else ~/.local/share/automate.
AUTOMATE_EXPORT std::string DefaultStateDir();

// One dispatching engine per state dir: automated, the CLI's background
// engine and Python's automate.Engine each hold this lock (an exclusive
// flock on <state_dir>/engine.lock) while their engine runs. Released by
// Release() or on destruction; the kernel releases it if the process dies.
class AUTOMATE_EXPORT StateDirLock {
 public:
  // Creates `state_dir` if needed and takes the lock without waiting.
  // kFailedPrecondition "another engine is running in DIR (DIR/engine.lock
  // is locked by ...)", then "; " and `advice` if given, if another process
  // holds it; kFailedPrecondition or kInternal for a dir or file that cannot
  // be made or locked.
  static absl::StatusOr<StateDirLock> Acquire(const std::string& state_dir,
                                              absl::string_view advice = "");
  // The same, but nullopt (not an error) if another process holds it.
  static absl::StatusOr<std::optional<StateDirLock>> TryAcquire(const std::string& state_dir);

  StateDirLock(StateDirLock&& other) noexcept;
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();

  // Lets another process take the lock; the file stays open.
  void Release();
  // Takes it again after Release(); false if another process has it now.
  bool TryRetake();
  const std::string& path() const { return path_; }

 private:
  StateDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// The embedded default in `state_dir`: SQLite at state_dir/automate.db, logs
// under state_dir/logs/, the local process executor, and the docker executor
// configured from DOCKER_HOST etc. (see docker_executor.h; the daemon is
// only contacted by docker jobs). kInvalidArgument for a bad DOCKER_HOST.
AUTOMATE_EXPORT absl::StatusOr<EngineOptions> DefaultEngineOptions(const std::string& state_dir);
// The same with the docker executor built from `docker` as given (front-ends
// that resolve --docker-* settings themselves; see DockerOptionsFromEnvironment
// for the variables); an empty engine_tag becomes the state dir.
// kInvalidArgument naming the docker setting that is wrong.
AUTOMATE_EXPORT absl::StatusOr<EngineOptions> DefaultEngineOptions(const std::string& state_dir,
                                                                   DockerExecutorOptions docker);

struct SubmitRequest {
  std::string job;
  std::map<std::string, std::string> args;  // Checked against the job's params.
  int64_t job_version = 0;                   // 0: latest.
  std::string requested_by;
  v1::Trigger trigger;                       // Default: MANUAL.
  // If set, an audit record of the submit, stored in the same transaction as
  // the new execution (one commit for both): Submit() sets its target to
  // the new execution's id and, once durable, its seq. Borrowed.
  v1::AuditEntry* audit = nullptr;
};

class AUTOMATE_EXPORT Engine {
 public:
  // Validates `options`, opens the state, reconciles executions that a
  // previous engine left running (reattaching or failing and retrying them)
  // and starts dispatching. kInvalidArgument for bad options; store errors
  // pass through.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(EngineOptions options);

  // Shutdown(), then frees everything.
  virtual ~Engine() = default;

  // --- Jobs ---------------------------------------------------------------
  // Validates (including the executor's own checks) and stores a new version
  // if anything changed. kInvalidArgument naming the field.
  virtual absl::StatusOr<v1::Job> ApplyJob(const v1::JobSpec& spec) = 0;
  virtual absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version = 0) = 0;
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobs() = 0;
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) = 0;
  virtual absl::Status DeleteJob(absl::string_view name) = 0;

  // --- Executions ---------------------------------------------------------
  // Checks args against the job's params (kInvalidArgument, nothing stored),
  // applies defaults, and returns the execution once it is durable.
  // kNotFound: no such job or version. kFailedPrecondition: the job's
  // concurrency policy is `forbid` and it is at its limit.
  virtual absl::StatusOr<v1::Execution> Submit(const SubmitRequest& request) = 0;
  // Submits every request with one durable commit, or none of them: each is
  // checked as Submit() checks it (a `forbid` limit also counts the batch's
  // earlier requests of that job) before anything is stored, and the first
  // bad one fails the whole batch, its index in front of the error:
  // `requests[3]: job "nope" not found`. At most kMaxSubmitBatch requests
  // (kInvalidArgument). The executions come back in request order, with
  // ascending ids, and queue in that order within their priority. One commit
  // for many executions: fanning a job out over many targets costs far less
  // than as many Submit() calls.
  virtual absl::StatusOr<std::vector<v1::Execution>> SubmitBatch(
      const std::vector<SubmitRequest>& requests) = 0;
  static constexpr int kMaxSubmitBatch = 1000;
  // Cancels a queued execution at once, or stops a running one (SIGTERM, then
  // SIGKILL after the grace period). kNotFound; kFailedPrecondition if final.
  virtual absl::Status Cancel(absl::string_view id) = 0;
  virtual absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) = 0;
  virtual absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) = 0;
  // Blocks until the execution is final or `deadline` passes; returns it.
  // kDeadlineExceeded; kNotFound.
  virtual absl::StatusOr<v1::Execution> Wait(absl::string_view id, absl::Time deadline) = 0;
  // Reads the log from `offset`; with `follow`, goes on until the execution is
  // final. kNotFound; kOutOfRange if `offset` is past the end of a final log.
  virtual absl::StatusOr<std::unique_ptr<LogReader>> OpenLog(absl::string_view id,
                                                             int64_t offset, bool follow) = 0;

  // --- Secrets ------------------------------------------------------------
  virtual absl::Status SetSecret(absl::string_view name, absl::string_view value) = 0;
  virtual absl::Status DeleteSecret(absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() = 0;

  // --- Lifecycle ----------------------------------------------------------
  // Executions not yet final, in this engine's view (queued, running).
  virtual int ActiveCount() = 0;
  // Stops dispatching and stops running attempts that cannot outlive the
  // engine; their executions stay RUNNING in the store, to be reconciled by
  // the next engine. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace automate

#endif  // AUTOMATE_ENGINE_H_
