// LocalExecutor: the Executor behind MakeLocalExecutor(). Each attempt is a
// child process (see process.h) watched by one of a few ObserverLoops (about
// one per core, started with the first attempt; see observer_loop.h).
// Destroying the executor kills what still runs, waits for every on_done and
// stops the loops.
//
// REQUIRES: the executor is not destroyed from inside an on_done callback.
#ifndef AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_
#define AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "automate/executor.h"
#include "automate/local_executor.h"
#include "executor/local/local_attempt.h"
#include "executor/local/observer_loop.h"

namespace automate::internal {

// The child's environment for `params` (see LocalExecutor in job.proto):
// the engine's (inherit_env) or a minimal one, then the job's env, then
// params.env, then the AUTOMATE_* markers. Later entries win.
// REQUIRES: params.job has executor.local.
std::vector<std::pair<std::string, std::string>> BuildChildEnv(
    const Executor::StartParams& params, absl::string_view engine_tag);

class LocalExecutor : public Executor {
 public:
  explicit LocalExecutor(LocalExecutorOptions options) : options_(std::move(options)) {}
  ~LocalExecutor() override;

  absl::string_view name() const override { return "local"; }
  absl::Status Validate(const v1::JobSpec& job) const override;
  absl::StatusOr<std::unique_ptr<AttemptHandle>> Start(StartParams params) override;
  absl::StatusOr<std::unique_ptr<AttemptHandle>> Reattach(ReattachParams params) override;
  absl::Status CleanupOrphans(const std::set<std::string>& live_execution_ids) override;

 private:
  // Hands `attempt` to a loop (starting the loops first if needed).
  absl::Status Observe(std::shared_ptr<LocalAttempt> attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // Called by a loop once `attempt`'s on_done has returned.
  void OnFinished(LocalAttempt* attempt) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> RunningExecutionIds() ABSL_LOCKS_EXCLUDED(mu_);

  const LocalExecutorOptions options_;
  absl::Mutex mu_;
  // Created with the first attempt; the destructor stops them after every
  // attempt has finished.
  std::vector<std::unique_ptr<ObserverLoop>> loops_ ABSL_GUARDED_BY(mu_);
  size_t next_loop_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<LocalAttempt*, std::shared_ptr<LocalAttempt>> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_
