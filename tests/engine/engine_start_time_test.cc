// The attempt's start time comes from the backend when it knows it
// (AttemptHandle::start_time(), stamped with the engine's clock), kept within
// the Start() call, and the per-attempt timeout counts from it: a start that
// returned late must not give the attempt extra time, nor record a start
// later than the real one.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "automate/automate.h"
#include "automate/testing/fake_clock.h"
#include "gtest/gtest.h"
#include "util/proto_time.h"
#include "util/test_util.h"

namespace automate_testing {
namespace {

namespace v1 = automate::v1;
using automate::internal::FromProto;

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

// How the fake backend's Start() behaves: it takes `takes` of fake time and
// reports a start `reported` from the time it was called (InfinitePast when
// `unknown`).
struct Behaviour {
  absl::Duration takes;
  absl::Duration reported;
  bool unknown = false;
};

// Named "local" so that local jobs go to it.
class FakeBackend : public automate::Executor {
 public:
  FakeBackend(FakeClock* clock, Behaviour behaviour) : clock_(clock), behaviour_(behaviour) {}
  absl::string_view name() const override { return "local"; }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Start(StartParams params) override {
    if (params.clock != clock_) return absl::InternalError("not the engine's clock");
    absl::Time called = params.clock->Now();
    clock_->Advance(behaviour_.takes);
    absl::Time start = behaviour_.unknown ? absl::InfinitePast() : called + behaviour_.reported;
    return std::make_unique<Handle>(start, std::move(params.on_done));
  }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Reattach(ReattachParams) override {
    return absl::NotFoundError("gone");
  }

 private:
  FakeClock* const clock_;
  const Behaviour behaviour_;
};

class EngineStartTimeTest : public ::testing::Test {
 protected:
  // An engine on a new state dir with a FakeBackend, and a job "long"
  // (timeout 10s).
  void Open(Behaviour behaviour) {
    engine_.reset();
    dirs_.push_back(std::make_unique<TempDir>());
    auto options = automate::DefaultEngineOptions(dirs_.back()->path());
    ASSERT_TRUE(options.ok()) << options.status();
    options->clock = &clock_;
    options->executors.clear();
    options->executors.push_back(std::make_unique<FakeBackend>(&clock_, behaviour));
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

  // Polls (in real time: fake time stands still, so Wait() would not end)
  // until `id` satisfies `done`; the last state read.
  v1::Execution PollUntil(const std::string& id, bool (*done)(const v1::Execution&)) {
    v1::Execution last;
    for (absl::Time give_up = absl::Now() + absl::Seconds(30); absl::Now() < give_up;
         absl::SleepFor(absl::Milliseconds(5))) {
      auto got = engine_->GetExecution(id);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) break;
      last = *got;
      if (done(last)) return last;
    }
    ADD_FAILURE() << "gave up waiting on " << id << "; state " << v1::ExecutionState_Name(last.state());
    return last;
  }

  // Submits "long" and returns it once its attempt is recorded.
  v1::Execution StartOne() {
    automate::SubmitRequest request;
    request.job = "long";
    auto exec = engine_->Submit(request);
    EXPECT_TRUE(exec.ok()) << exec.status();
    if (!exec.ok()) return {};
    return PollUntil(exec->id(), [](const v1::Execution& e) {
      return e.state() == v1::RUNNING && e.attempts_size() == 1;
    });
  }

  // The recorded start of the first attempt, checked against `expected`.
  void ExpectStart(Behaviour behaviour, absl::Time expected) {
    Open(behaviour);
    v1::Execution running = StartOne();
    ASSERT_EQ(running.attempts_size(), 1);
    EXPECT_EQ(FromProto(running.attempts(0).start_time()), expected);
    ASSERT_TRUE(engine_->Cancel(running.id()).ok());
    PollUntil(running.id(), [](const v1::Execution& e) { return e.state() == v1::CANCELLED; });
  }

  FakeClock clock_;
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::unique_ptr<automate::Engine> engine_;
};

TEST_F(EngineStartTimeTest, RecordsTheBackendsStartAndCountsTheTimeoutFromIt) {
  // Start() takes 4s and says the attempt began when it was called.
  Open({.takes = absl::Seconds(4), .reported = absl::ZeroDuration()});
  absl::Time called = clock_.Now();
  v1::Execution running = StartOne();
  ASSERT_EQ(running.attempts_size(), 1);
  EXPECT_EQ(FromProto(running.attempts(0).start_time()), called);
  EXPECT_EQ(FromProto(running.start_time()), FromProto(running.attempts(0).start_time()));
  // Timeout 10s from the start: 6.5s after Start() returned is past it.
  // Counting from the return would leave 3.5s.
  clock_.Advance(absl::Milliseconds(6500));
  v1::Execution done = PollUntil(running.id(), [](const v1::Execution& e) {
    return e.state() != v1::RUNNING;
  });
  EXPECT_EQ(done.state(), v1::TIMED_OUT);
}

TEST_F(EngineStartTimeTest, AReportedStartIsKeptWithinTheStartCall) {
  // Before the call (another clock, or a bug): the time of the call.
  absl::Time now = clock_.Now();
  ExpectStart({.takes = absl::Seconds(2), .reported = absl::Seconds(-30)}, now);
  // After the call returned: the time it returned.
  now = clock_.Now();
  ExpectStart({.takes = absl::Seconds(2), .reported = absl::Seconds(30)}, now + absl::Seconds(2));
  // Unknown: the time it returned.
  now = clock_.Now();
  ExpectStart({.takes = absl::Seconds(2), .reported = absl::ZeroDuration(), .unknown = true},
              now + absl::Seconds(2));
}

}  // namespace
}  // namespace automate_testing
