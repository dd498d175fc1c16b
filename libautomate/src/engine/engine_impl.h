// EngineImpl: the Engine behind automate/engine.h.
//
// One dispatcher thread decides every state change of the executions this
// engine runs: it admits queued work, reserves slots, handles outcomes,
// deadlines and cancellations. Starter threads run executor->Start() (which
// may take milliseconds) for the slots it reserved. One writer thread writes
// everything changed since its last batch in a single store batch (one fsync
// for many changes), so nobody waits for a commit but Submit() and Wait().
// Other threads only post requests (Submit, Cancel, executor callbacks) and
// wake the dispatcher.
#ifndef AUTOMATE_ENGINE_ENGINE_IMPL_H_
#define AUTOMATE_ENGINE_ENGINE_IMPL_H_

#include <cstdint>
#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "automate/engine.h"
#include "engine/run_queue.h"
#include "engine/start_journal.h"
#include "logs/execution_log.h"

namespace automate::internal {

class EngineImpl : public Engine {
 public:
  explicit EngineImpl(EngineOptions options);
  ~EngineImpl() override;

  // Recovers unfinished executions and starts the dispatcher.
  absl::Status Start();

  absl::StatusOr<v1::Job> ApplyJob(const v1::JobSpec& spec) override;
  absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version) override;
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override;
  absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) override;
  absl::Status DeleteJob(absl::string_view name) override;

  absl::StatusOr<v1::Execution> Submit(const SubmitRequest& request) override;
  absl::StatusOr<std::vector<v1::Execution>> SubmitBatch(
      const std::vector<SubmitRequest>& requests) override;
  absl::Status Cancel(absl::string_view id) override;
  absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) override;
  absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) override;
  absl::StatusOr<v1::Execution> Wait(absl::string_view id, absl::Time deadline) override;
  absl::StatusOr<std::unique_ptr<LogReader>> OpenLog(absl::string_view id, int64_t offset,
                                                     bool follow) override;

  absl::Status SetSecret(absl::string_view name, absl::string_view value) override;
  absl::Status DeleteSecret(absl::string_view name) override;
  absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() override;

  int ActiveCount() override;
  void Shutdown() override;

 private:
  // Why a running attempt is being stopped.
  enum class StopReason { kNone, kCancel, kTimeout, kLogLimit, kReplaced, kShutdown };

  // An execution this engine has admitted and not yet finished.
  struct Run {
    v1::Execution exec;  // The engine's view; written by the dispatcher only.
    uint64_t seq = 0;
    Executor* executor = nullptr;
    std::shared_ptr<ExecutionLog> log;
    std::unique_ptr<AttemptHandle> handle;  // While an attempt runs.
    bool running = false;   // Holds a slot: starting or started.
    bool starting = false;  // A starter thread is in executor->Start().
    absl::Time attempt_deadline = absl::InfiniteFuture();
    absl::Time retry_at = absl::InfinitePast();  // While waiting to retry.
    bool waiting_retry = false;
    StopReason stop = StopReason::kNone;
    std::string stop_detail;  // E.g. the id that replaced it.
    bool cancel_requested = false;
    bool dirty = false;  // Changed since the last store write.
    // Submitted to this engine and its log not opened yet: there is no log
    // file (one left by an earlier engine is possible only for executions
    // recovered from the store).
    bool new_log = false;
    // Attempts of exec in the store as last written (or read): the start
    // journal keeps the starts of later ones.
    int stored_attempts = 0;
  };

  struct Completion {
    std::string id;
    int attempt;
    AttemptOutcome outcome;
  };

  // --- submit ---
  // What the requests of one Submit()/SubmitBatch() call share: jobs looked
  // up once, the set secrets' names read once, earlier requests per job.
  struct SubmitContext;
  // Checks `request` and builds its execution, not yet stored.
  absl::StatusOr<v1::Execution> NewExecution(const SubmitRequest& request, absl::Time now,
                                             SubmitContext& context);
  // Stores `execs` (and `audits`) in one commit, then queues them.
  absl::Status StoreAndAdmit(std::vector<v1::Execution>& execs,
                             const std::vector<v1::AuditEntry*>& audits);

  // --- dispatcher ---
  void DispatchLoop();
  absl::Time NextWakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the dispatcher only if it would sleep past `at` (a new timer).
  // Everything else it does is also done by whoever frees a slot or records
  // an outcome, so most state changes need no wake-up of it.
  void WakeDispatcherForLocked(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Turns log-limit hits into stop requests.
  void TakeLimitHitsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProcessCompletionsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ProcessCompletionsLocked(), then hands the freed slots on: what an
  // outcome's thread and a starter do, so the dispatcher need not wake.
  void SettleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleOutcomeLocked(Run& run, const AttemptOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(Run& run, v1::ExecutionState state, std::string error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleRetryOrFinishLocked(Run& run, v1::ExecutionState final_state, std::string why,
                                   bool retryable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProcessTimersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyStopsLocked(std::vector<std::pair<AttemptHandle*, absl::Duration>>* cancels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDirtyLocked(Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberFinishedLocked(v1::Execution exec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlotLocked(Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops what may start now from the queue, reserves its slots and hands it
  // to the starters.
  void ReserveStartsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StarterLoop();
  void StartOne(const std::string& id);
  void WriterLoop();
  absl::Time last_write_ = absl::InfinitePast();  // WriterLoop's last commit (real time).
  // Executions per commit, averaged over the last few; above kBusyBatchSize
  // the writer paces its commits (write_interval).
  std::atomic<double> batch_size_average_{1.0};
  static constexpr double kBusyBatchSize = 1.2;
  // Writes every dirty execution in one store batch; false if that failed
  // (they stay dirty).
  bool WriteDirty();
  void PollStore();

  // --- helpers ---
  // new_log: see ExecutionLogOptions::new_log.
  absl::StatusOr<std::shared_ptr<ExecutionLog>> OpenExecutionLog(const v1::Execution& exec,
                                                                 bool new_log = false);
  Executor* ExecutorFor(const v1::JobSpec& spec) const;
  Executor::DoneCallback DoneCallbackFor(const std::string& id, int attempt);
  std::vector<std::pair<std::string, std::string>> AttemptEnv(
      const v1::Execution& exec, const std::map<std::string, std::string>& secrets) const;
  // new_log: `exec` was just created by this engine (no log exists yet).
  void AdmitLocked(v1::Execution exec, bool new_log = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Recover();
  // stored_attempts: how many attempts of `exec` the store holds (fewer
  // than it has when some were added from the start journal). True if the
  // backend took the attempt back; otherwise it is lost (retried or final).
  bool RecoverRunning(v1::Execution exec, int stored_attempts);
  // Rewrites the start journal without the starts the store now records.
  void CompactJournal();
  // Reveals the secrets of `exec`'s job and of its executor: the log masks
  // all of them, params->env gets args and job secrets,
  // params->executor_secrets the executor's own.
  absl::Status PrepareAttempt(const v1::Execution& exec, Executor* executor, ExecutionLog* log,
                              Executor::StartParams* params);
  void RequestStopLocked(Run& run, StopReason reason, std::string detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::Execution> PollUntilFinal(absl::string_view id, absl::Time deadline);

  EngineOptions options_;
  Store* store_;
  LogStore* logs_;
  Clock* clock_;

  // Held by WriteDirty() and by PollStore() for its query and admissions,
  // so that a poll never sees an execution as PENDING from before the
  // writer's commit and then finds it gone from runs_ (finished and dropped
  // in between) and admits it a second time. Taken before mu_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  RunQueue queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> running_per_job_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Completion> completions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> finished_ ABSL_GUARDED_BY(mu_);  // Final; drop once written.
  // The last executions this engine finished, as stored (final records do not
  // change), for Wait() to return without a store read.
  static constexpr size_t kFinishedRemembered = 1024;
  absl::flat_hash_map<std::string, v1::Execution> finished_recently_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> finished_order_ ABSL_GUARDED_BY(mu_);  // Oldest first.
  std::vector<std::string> dirty_ ABSL_GUARDED_BY(mu_);     // To write this cycle.
  std::vector<std::string> stop_requests_ ABSL_GUARDED_BY(mu_);
  // Admitted executions whose slot is reserved, waiting for a starter thread.
  std::deque<std::string> to_start_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> retry_times_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> deadlines_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<ExecutionLog>> to_close_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<AttemptHandle>> dead_handles_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Until when the dispatcher sleeps if nobody sets wake_; InfinitePast while
  // it is awake (it computes its next wake-up before it sleeps again).
  absl::Time dispatcher_sleeps_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_poll_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  // Log-limit hits come from inside ExecutionLog, possibly while mu_ is held
  // by this very thread, so they queue here and only nudge the dispatcher.
  absl::Mutex limit_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<std::string> limit_hits_ ABSL_GUARDED_BY(limit_mu_);
  std::atomic<bool> limit_pending_{false};
  std::thread dispatcher_;
  // Starting an attempt (posix_spawn, a container create, an API call) can
  // take milliseconds; starters do it so that the dispatcher never waits on
  // it and starts proceed in parallel.
  std::vector<std::thread> starters_;
  std::thread writer_;
  bool started_ = false;
  // Null without EngineOptions::start_journal or when not dispatching.
  std::unique_ptr<StartJournal> journal_;
  std::atomic<bool> journal_failed_{false};  // A note failed (reported once).
  // Compacted once this big (about 20,000 starts).
  static constexpr int64_t kJournalCompactBytes = 1 << 20;
};

}  // namespace automate::internal

#endif  // AUTOMATE_ENGINE_ENGINE_IMPL_H_
