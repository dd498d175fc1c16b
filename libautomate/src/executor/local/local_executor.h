// LocalExecutor: the Executor behind MakeLocalExecutor(). Each attempt is a
// child process (see process.h) watched by its own observer thread (see
// local_attempt.h). The executor keeps every observer thread until it has
// finished and joins them; destroying the executor kills what still runs,
// waits for every on_done and joins all threads.
//
// REQUIRES: the executor is not destroyed from inside an on_done callback.
#ifndef AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_
#define AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_

#include <pthread.h>

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
  struct Running {
    std::shared_ptr<LocalAttempt> attempt;
    pthread_t thread;
  };
  struct ThreadArg;

  static void* ThreadMain(void* arg);
  absl::Status StartObserver(std::shared_ptr<LocalAttempt> attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // Called by an observer thread as the last thing it does.
  void OnObserverDone(uint64_t key) ABSL_LOCKS_EXCLUDED(mu_);
  // Joins threads that have finished.
  void JoinFinished() ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> RunningExecutionIds() ABSL_LOCKS_EXCLUDED(mu_);

  const LocalExecutorOptions options_;
  absl::Mutex mu_;
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Running> running_ ABSL_GUARDED_BY(mu_);
  std::vector<pthread_t> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_LOCAL_EXECUTOR_H_
