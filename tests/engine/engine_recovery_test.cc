// Recovery with a backend whose attempts outlive the engine (as containers
// do): a reattached attempt that already ended reports its outcome from
// inside Reattach(), before the engine has recorded the run; the outcome must
// still finish the execution. And recovery of an attempt whose start only the
// start journal knows (the engine died before the writer stored it).
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/strings/str_split.h"
#include "automate/automate.h"
#include "engine/engine_fixture.h"
#include "engine/start_journal.h"
#include "gtest/gtest.h"
#include "util/proto_time.h"
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

// What a previous engine leaves when it dies after noting a start in the
// journal and before its writer stored it: the execution as submitted
// (pending, no attempts) and the journal line. The local job appends to
// `marker` each time it runs.
std::string SubmitWithUnrecordedStart(const std::string& dir, const std::string& marker,
                                      int max_attempts) {
  auto client = OpenClient(dir);  // Stores the execution; starts nothing.
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return "";
  v1::JobSpec spec;
  spec.set_name("once");
  auto* local = spec.mutable_executor()->mutable_local();
  for (const char* arg : {"/bin/sh", "-c", "echo ran >> \"$0\"; echo out"}) local->add_command(arg);
  local->add_command(marker);
  spec.mutable_retry()->set_max_attempts(max_attempts);
  spec.mutable_retry()->mutable_initial_backoff()->set_nanos(10'000'000);
  EXPECT_TRUE((*client)->ApplyJob(spec).ok());
  automate::SubmitRequest request;
  request.job = "once";
  auto exec = (*client)->Submit(request);
  EXPECT_TRUE(exec.ok()) << exec.status();
  if (!exec.ok()) return "";
  auto journal = automate::internal::StartJournal::Open(dir + "/starts.journal");
  EXPECT_TRUE(journal.ok()) << journal.status();
  EXPECT_TRUE((*journal)->Record({exec->id(), 1, 0, absl::Now()}).ok());
  return exec->id();
}

// Opens the dispatching engine on `dir` with `options`, which recovers what
// the previous engine left, and waits up to 30 s for `id` to end.
struct Recovered {
  std::unique_ptr<automate::Engine> engine;  // Null if it did not open.
  absl::StatusOr<v1::Execution> done = absl::UnknownError("not waited for");
};
Recovered RecoverAndWait(automate::EngineOptions options, const std::string& id) {
  Recovered r;
  auto engine = automate::Engine::Open(std::move(options));
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return r;
  r.engine = *std::move(engine);
  r.done = r.engine->Wait(id, absl::Now() + absl::Seconds(30));
  return r;
}
Recovered RecoverAndWait(const std::string& dir, const std::string& id) {
  auto options = automate::DefaultEngineOptions(dir);
  EXPECT_TRUE(options.ok()) << options.status();
  if (!options.ok()) return {};
  return RecoverAndWait(*std::move(options), id);
}

TEST(EngineRecoveryTest, AStartOnlyTheJournalKnowsIsLostNotRunAgain) {
  TempDir dir;
  const std::string marker = dir.path() + "/marker";
  const std::string id = SubmitWithUnrecordedStart(dir.path(), marker, /*max_attempts=*/1);
  ASSERT_FALSE(id.empty());
  auto [engine, done] = RecoverAndWait(dir.path(), id);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  // One attempt, as the job's policy allows: the one that ran, lost.
  EXPECT_EQ(done->state(), v1::FAILED);
  EXPECT_EQ(done->error(), "engine restarted");
  ASSERT_EQ(done->attempts_size(), 1);
  EXPECT_EQ(done->attempts(0).status(), v1::Attempt::FAILED);
  EXPECT_EQ(done->attempts(0).error(), "engine restarted");
  EXPECT_EQ(done->attempts(0).executor(), "local");
  EXPECT_TRUE(done->has_start_time());
  EXPECT_FALSE(std::ifstream(marker).good()) << "the execution ran again";
  EXPECT_NE(ReadWholeLog(*engine, id).find("attempt 1 was lost: engine restarted"), std::string::npos);
  // Stored now, so the journal forgot it.
  EXPECT_EQ(FileSize(dir.path() + "/starts.journal"), 0);
}

TEST(EngineRecoveryTest, AStartOnlyTheJournalKnowsCountsAgainstTheRetries) {
  TempDir dir;
  const std::string marker = dir.path() + "/marker";
  const std::string id = SubmitWithUnrecordedStart(dir.path(), marker, /*max_attempts=*/2);
  ASSERT_FALSE(id.empty());
  auto [engine, done] = RecoverAndWait(dir.path(), id);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  ASSERT_EQ(done->attempts_size(), 2);
  EXPECT_EQ(done->attempts(0).error(), "engine restarted");
  EXPECT_EQ(done->attempts(1).status(), v1::Attempt::SUCCEEDED);
  EXPECT_EQ(ReadFileOrDie(marker), "ran\n");  // Attempt 2 only.
}

// Journal lines for attempts the store has are old news: they change
// nothing, for a finished execution or for one waiting to retry, whose next
// start (in the journal, not in the store) counts as an attempt.
TEST(EngineRecoveryTest, StartsTheStoreHasChangeNothingAndALaterOneCounts) {
  TempDir dir;
  const std::string marker = dir.path() + "/marker";
  std::string waiting = SubmitWithUnrecordedStart(dir.path(), marker, /*max_attempts=*/3);
  ASSERT_FALSE(waiting.empty());
  std::string finished = SubmitWithUnrecordedStart(dir.path(), marker, /*max_attempts=*/3);
  ASSERT_FALSE(finished.empty());
  const absl::Time now = absl::Now();
  {
    // What the store holds: `waiting` failed attempt 1 and is due to retry,
    // `finished` succeeded at attempt 1.
    std::unique_ptr<automate::Store> store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto w = store->GetExecution(waiting);
    auto f = store->GetExecution(finished);
    ASSERT_TRUE(w.ok() && f.ok());
    for (v1::Execution* e : {&*w, &*f}) {
      v1::Attempt* a = e->add_attempts();
      a->set_number(1);
      a->set_executor("local");
      *a->mutable_start_time() = automate::internal::ToProto(now - absl::Seconds(2));
      *a->mutable_end_time() = automate::internal::ToProto(now - absl::Seconds(1));
      *e->mutable_start_time() = a->start_time();
    }
    w->mutable_attempts(0)->set_status(v1::Attempt::FAILED);
    w->mutable_attempts(0)->set_exit_code(1);
    w->mutable_attempts(0)->set_retryable(true);
    w->set_state(v1::QUEUED);
    *w->mutable_next_attempt_time() = automate::internal::ToProto(now - absl::Milliseconds(500));
    f->mutable_attempts(0)->set_status(v1::Attempt::SUCCEEDED);
    f->mutable_attempts(0)->set_exit_code(0);
    f->set_state(v1::SUCCEEDED);
    f->set_exit_code(0);
    *f->mutable_end_time() = f->attempts(0).end_time();
    ASSERT_TRUE(store->WriteExecutions({&*w, &*f}).ok());
  }
  {
    // The journal: attempt 1 of both (written by the helper), and
    // attempt 2 of `waiting`, started after its backoff.
    auto journal = automate::internal::StartJournal::Open(dir.path() + "/starts.journal");
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Record({waiting, 2, 0, now - absl::Milliseconds(400)}).ok());
  }
  auto [engine, done] = RecoverAndWait(dir.path(), waiting);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  ASSERT_EQ(done->attempts_size(), 3);
  EXPECT_EQ(done->attempts(0).exit_code(), 1);  // As stored.
  EXPECT_EQ(done->attempts(1).error(), "engine restarted");
  EXPECT_EQ(automate::internal::FromProto(done->attempts(1).start_time()),
            now - absl::Milliseconds(400));
  EXPECT_EQ(done->attempts(2).status(), v1::Attempt::SUCCEEDED);
  EXPECT_EQ(ReadFileOrDie(marker), "ran\n");  // Attempt 3 only.
  auto untouched = engine->GetExecution(finished);
  ASSERT_TRUE(untouched.ok());
  EXPECT_EQ(untouched->state(), v1::SUCCEEDED);
  EXPECT_EQ(untouched->attempts_size(), 1);
  // Recovery forgot the lines it read; attempt 3's start came after.
  auto journal = automate::internal::StartJournal::Open(dir.path() + "/starts.journal");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ((*journal)->Entries().size(), 1u);
  EXPECT_EQ((*journal)->Entries()[0].execution_id, waiting);
  EXPECT_EQ((*journal)->Entries()[0].attempt, 3);
}

// A start only the journal knows, for an execution whose cancel was asked:
// it ends cancelled, not failed, and is not retried.
TEST(EngineRecoveryTest, AStartOnlyTheJournalKnowsOfACancelledExecutionEndsCancelled) {
  TempDir dir;
  const std::string marker = dir.path() + "/marker";
  const std::string id = SubmitWithUnrecordedStart(dir.path(), marker, /*max_attempts=*/3);
  ASSERT_FALSE(id.empty());
  {
    std::unique_ptr<automate::Store> store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->RequestCancel(id).ok());
  }
  auto [engine, done] = RecoverAndWait(dir.path(), id);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::CANCELLED);
  ASSERT_EQ(done->attempts_size(), 1);
  EXPECT_EQ(done->attempts(0).status(), v1::Attempt::CANCELLED);
  EXPECT_EQ(done->attempts(0).error(), "engine restarted");
  EXPECT_FALSE(std::ifstream(marker).good()) << "ran again";
}

// A backend whose attempts outlive the engine finds the attempt by its
// execution and number (no external id was stored) and reattaches.
class ReattachByNameExecutor : public automate::Executor {
 public:
  absl::string_view name() const override { return "local"; }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Start(StartParams) override {
    ADD_FAILURE() << "started afresh instead of reattached";
    return absl::InternalError("started afresh");
  }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Reattach(ReattachParams params) override {
    reattached.push_back(params.attempt);
    params.start.on_done(automate::AttemptOutcome::Exited(0));
    return std::make_unique<Handle>();
  }
  std::vector<v1::Attempt> reattached;
};

TEST(EngineRecoveryTest, AStartOnlyTheJournalKnowsIsReattachedWhereTheBackendCan) {
  TempDir dir;
  const std::string id = SubmitWithUnrecordedStart(dir.path(), dir.path() + "/marker", 1);
  ASSERT_FALSE(id.empty());
  // The journal's entry, as written above.
  auto journal = automate::internal::StartJournal::Open(dir.path() + "/starts.journal");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ((*journal)->Entries().size(), 1u);
  const absl::Time noted = (*journal)->Entries()[0].time;
  journal->reset();
  auto options = automate::DefaultEngineOptions(dir.path());
  ASSERT_TRUE(options.ok());
  options->executors.clear();
  auto executor = std::make_unique<ReattachByNameExecutor>();
  ReattachByNameExecutor* backend = executor.get();
  options->executors.push_back(std::move(executor));
  auto [engine, done] = RecoverAndWait(*std::move(options), id);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  ASSERT_EQ(done->attempts_size(), 1);
  ASSERT_EQ(backend->reattached.size(), 1u);
  EXPECT_EQ(backend->reattached[0].number(), 1);
  EXPECT_EQ(backend->reattached[0].external_id(), "");
  EXPECT_EQ(automate::internal::FromProto(done->attempts(0).start_time()), noted);
}

}  // namespace
}  // namespace automate_testing
