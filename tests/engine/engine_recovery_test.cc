// Recovery with a backend whose attempts outlive the engine (as containers
// do): a reattached attempt that already ended reports its outcome from
// inside Reattach(), before the engine has recorded the run; the outcome must
// still finish the execution.
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "automate/automate.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate_testing {
namespace {

namespace v1 = automate::v1;

class Handle : public automate::AttemptHandle {
 public:
  std::string external_id() const override { return "fake-1"; }
  void Cancel(absl::Duration) override {}
};

// Named "local" so that local jobs go to it. Start() runs "forever" (never
// reports); Reattach() reports an exit code at once, from inside the call.
class OutlivingExecutor : public automate::Executor {
 public:
  explicit OutlivingExecutor(absl::Notification* started) : started_(started) {}
  absl::string_view name() const override { return "local"; }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Start(StartParams params) override {
    on_done_ = std::move(params.on_done);  // Kept, never called.
    if (!started_->HasBeenNotified()) started_->Notify();
    return std::make_unique<Handle>();
  }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Reattach(ReattachParams params) override {
    EXPECT_EQ(params.attempt.external_id(), "fake-1");
    params.start.on_done(automate::AttemptOutcome::Exited(0));
    return std::make_unique<Handle>();
  }

 private:
  absl::Notification* started_;
  DoneCallback on_done_;
};

std::unique_ptr<automate::Engine> OpenWith(const std::string& dir, absl::Notification* started) {
  auto options = automate::DefaultEngineOptions(dir);
  EXPECT_TRUE(options.ok()) << options.status();
  options->executors.clear();
  options->executors.push_back(std::make_unique<OutlivingExecutor>(started));
  auto engine = automate::Engine::Open(*std::move(options));
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

TEST(EngineRecoveryTest, AttemptThatEndedBeforeReattachReturnedFinishesTheExecution) {
  TempDir dir;
  absl::Notification started;
  std::string id;
  {
    std::unique_ptr<automate::Engine> engine = OpenWith(dir.path(), &started);
    ASSERT_NE(engine, nullptr);
    v1::JobSpec spec;
    spec.set_name("outlives");
    spec.mutable_executor()->mutable_local()->add_command("true");
    ASSERT_TRUE(engine->ApplyJob(spec).ok());
    automate::SubmitRequest request;
    request.job = "outlives";
    auto exec = engine->Submit(request);
    ASSERT_TRUE(exec.ok()) << exec.status();
    id = exec->id();
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
    engine->Shutdown();  // Leaves it RUNNING, to be reattached.
    auto stored = engine->GetExecution(id);
    ASSERT_TRUE(stored.ok());
    ASSERT_EQ(stored->state(), v1::RUNNING);
  }
  absl::Notification unused;
  std::unique_ptr<automate::Engine> engine = OpenWith(dir.path(), &unused);
  ASSERT_NE(engine, nullptr);
  auto done = engine->Wait(id, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  EXPECT_EQ(done->exit_code(), 0);
  EXPECT_EQ(done->attempts_size(), 1);
}

}  // namespace
}  // namespace automate_testing
