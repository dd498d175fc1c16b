// The attempt's start time comes from the backend when it knows it
// (AttemptHandle::start_time(), stamped with the engine's clock), and the
// per-attempt timeout counts from it: a start that returned late must not
// give the attempt extra time, nor record a start later than the real one.
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "automate/automate.h"
#include "automate/testing/fake_clock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate_testing {
namespace {

namespace v1 = automate::v1;

// Runs until cancelled, then reports SIGTERM.
class Handle : public automate::AttemptHandle {
 public:
  Handle(absl::Time start, automate::Executor::DoneCallback on_done)
      : start_(start), on_done_(std::move(on_done)) {}
  std::string external_id() const override { return "fake-1"; }
  absl::Time start_time() const override { return start_; }
  void Cancel(absl::Duration) override {
    automate::Executor::DoneCallback done;
    {
      absl::MutexLock lock(&mu_);
      done = std::move(on_done_);
      on_done_ = nullptr;
    }
    if (done) done(automate::AttemptOutcome::Signaled(15));
  }

 private:
  const absl::Time start_;
  absl::Mutex mu_;
  automate::Executor::DoneCallback on_done_ ABSL_GUARDED_BY(mu_);
};

// Named "local" so that local jobs go to it. Its attempts report a start
// `offset` from the clock's now at Start() (negative: before it; InfinitePast
// when `unknown`).
class OffsetExecutor : public automate::Executor {
 public:
  OffsetExecutor(absl::Duration offset, bool unknown) : offset_(offset), unknown_(unknown) {}
  absl::string_view name() const override { return "local"; }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Start(StartParams params) override {
    if (params.clock == nullptr) return absl::InternalError("no clock in StartParams");
    absl::Time start = unknown_ ? absl::InfinitePast() : params.clock->Now() + offset_;
    return std::make_unique<Handle>(start, std::move(params.on_done));
  }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Reattach(ReattachParams) override {
    return absl::NotFoundError("gone");
  }

 private:
  const absl::Duration offset_;
  const bool unknown_;
};

class EngineStartTimeTest : public ::testing::Test {
 protected:
  void Open(absl::Duration offset, bool unknown = false) {
    auto options = automate::DefaultEngineOptions(dir_.path());
    ASSERT_TRUE(options.ok()) << options.status();
    options->clock = &clock_;
    options->executors.clear();
    options->executors.push_back(std::make_unique<OffsetExecutor>(offset, unknown));
    auto engine = automate::Engine::Open(*std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    v1::JobSpec spec;
    spec.set_name("long");
    spec.mutable_executor()->mutable_local()->add_command("sleep");
    spec.mutable_executor()->mutable_local()->add_command("1000");
    spec.mutable_timeout()->set_seconds(10);
    ASSERT_TRUE(engine_->ApplyJob(spec).ok());
  }

  // Submits "long" and waits (in real time) until its attempt is recorded.
  v1::Execution StartOne() {
    automate::SubmitRequest request;
    request.job = "long";
    auto exec = engine_->Submit(request);
    EXPECT_TRUE(exec.ok()) << exec.status();
    if (!exec.ok()) return {};
    absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      auto got = engine_->GetExecution(exec->id());
      if (got.ok() && got->state() == v1::RUNNING && got->attempts_size() == 1) return *got;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "the attempt did not start";
    return *exec;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<automate::Engine> engine_;
};

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

TEST_F(EngineStartTimeTest, RecordsTheBackendsStartAndCountsTheTimeoutFromIt) {
  Open(absl::Seconds(-4));
  absl::Time submitted = clock_.Now();
  v1::Execution running = StartOne();
  ASSERT_EQ(running.attempts_size(), 1);
  EXPECT_EQ(Micros(running.attempts(0).start_time()),
            absl::ToUnixMicros(submitted - absl::Seconds(4)));
  EXPECT_EQ(Micros(running.start_time()), Micros(running.attempts(0).start_time()));
  // Timeout 10s from a start 4s ago: 6.5s more is past it. Counting from the
  // time Start() returned would leave 3.5s.
  clock_.Advance(absl::Milliseconds(6500));
  // Polled in real time: fake time stands still, so Wait() would not end.
  v1::ExecutionState state = v1::RUNNING;
  for (absl::Time give_up = absl::Now() + absl::Seconds(30);
       absl::Now() < give_up && state == v1::RUNNING; absl::SleepFor(absl::Milliseconds(5))) {
    auto got = engine_->GetExecution(running.id());
    ASSERT_TRUE(got.ok()) << got.status();
    state = got->state();
  }
  EXPECT_EQ(state, v1::TIMED_OUT);
}

TEST_F(EngineStartTimeTest, AStartAfterNowOrUnknownIsTakenAsNow) {
  Open(absl::Seconds(30));
  absl::Time now = clock_.Now();
  v1::Execution running = StartOne();
  ASSERT_EQ(running.attempts_size(), 1);
  EXPECT_EQ(Micros(running.attempts(0).start_time()), absl::ToUnixMicros(now));
  ASSERT_TRUE(engine_->Cancel(running.id()).ok());
  engine_.reset();

  Open(absl::ZeroDuration(), /*unknown=*/true);
  clock_.Advance(absl::Seconds(1));
  now = clock_.Now();
  running = StartOne();
  ASSERT_EQ(running.attempts_size(), 1);
  EXPECT_EQ(Micros(running.attempts(0).start_time()), absl::ToUnixMicros(now));
}

}  // namespace
}  // namespace automate_testing
