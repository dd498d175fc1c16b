// DockerExecutor: the Executor behind MakeDockerExecutor(). Each attempt is
// a container observed by one thread of its own (see DockerAttempt): it
// pulls when the policy says so, creates and starts the container, follows
// its log, waits for the exit code and removes it. Destroying the executor
// stops observing (containers go on running, for the next engine to
// reattach) and joins every thread.
//
// REQUIRES: the executor is not destroyed from inside an on_done callback.
#ifndef AUTOMATE_EXECUTOR_DOCKER_DOCKER_EXECUTOR_H_
#define AUTOMATE_EXECUTOR_DOCKER_DOCKER_EXECUTOR_H_

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "automate/docker_executor.h"
#include "automate/executor.h"
#include "executor/docker/docker_api.h"

namespace automate::internal {

class DockerAttempt;

// "automate-<execution id>-<attempt>".
std::string ContainerName(absl::string_view execution_id, int attempt);

// The JSON body of POST /containers/create for `params` (it holds the
// environment, so secrets: never log it).
std::string ContainerConfigJson(const Executor::StartParams& params, absl::string_view engine_tag);

class DockerExecutor : public Executor {
 public:
  DockerExecutor(DockerExecutorOptions options, HttpTransportOptions transport);
  ~DockerExecutor() override;

  absl::string_view name() const override { return "docker"; }
  absl::Status Validate(const v1::JobSpec& job) const override;
  std::vector<std::string> SecretNames(const v1::JobSpec& job) const override;
  absl::StatusOr<std::unique_ptr<AttemptHandle>> Start(StartParams params) override;
  absl::StatusOr<std::unique_ptr<AttemptHandle>> Reattach(ReattachParams params) override;
  absl::Status CleanupOrphans(const std::set<std::string>& live_execution_ids) override;

 private:
  struct Running {
    std::shared_ptr<DockerAttempt> attempt;
    std::thread thread;
  };
  // Runs `attempt` on a thread of its own.
  void Launch(std::shared_ptr<DockerAttempt> attempt) ABSL_LOCKS_EXCLUDED(mu_);
  void JoinFinished() ABSL_LOCKS_EXCLUDED(mu_);

  const DockerExecutorOptions options_;
  DockerApi api_;
  absl::Mutex mu_;
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Running> running_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_DOCKER_EXECUTOR_H_
