#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/engine_fixture.h"
#include "google/protobuf/util/message_differencer.h"
#include "util/proto_time.h"
#include "util/status_macros.h"

namespace automate_testing {
namespace {

using automate::v1::Execution;
namespace v1 = automate::v1;

bool ProcessAlive(int pid) { return ::kill(pid, 0) == 0; }

TEST_F(EngineTest, RunsAJobWithParamsAndDefaults) {
  Apply(R"(
name: hello
executor:
  local:
    command: ["/bin/sh", "-c", "echo \"hello $WHO from $GREETING\"; echo oops >&2"]
params:
  - name: WHO
    required: true
  - name: GREETING
    default: automate
)");
  Execution done = RunAndWait("hello", {{"WHO", "world"}});
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(done.exit_code(), 0);
  ASSERT_EQ(done.attempts_size(), 1);
  EXPECT_EQ(done.attempts(0).status(), v1::Attempt::SUCCEEDED);
  EXPECT_EQ(done.args().at("GREETING"), "automate");
  std::vector<automate::LogChunk> chunks;
  std::string log = ReadLog(done.id(), &chunks);
  EXPECT_NE(log.find("hello world from automate\n"), std::string::npos);
  bool saw_stderr = false;
  for (auto& c : chunks) saw_stderr |= (c.stream == v1::STDERR && c.data == "oops\n");
  EXPECT_TRUE(saw_stderr);
}

TEST_F(EngineTest, BadArgsAreRefusedAndNothingIsStored) {
  Apply(R"(
name: strict
executor: {local: {command: ["true"]}}
params:
  - {name: DATABASE, required: true, pattern: "^[a-z_]+$"}
)");
  automate::SubmitRequest request;
  request.job = "strict";
  EXPECT_THAT(engine_->Submit(request), StatusIs(absl::StatusCode::kInvalidArgument, "DATABASE"));
  request.args = {{"DATABASE", "Bad-Name"}};
  EXPECT_THAT(engine_->Submit(request), StatusIs(absl::StatusCode::kInvalidArgument, "DATABASE"));
  request.args = {{"DATABASE", "ok"}, {"EXTRA", "1"}};
  EXPECT_THAT(engine_->Submit(request), StatusIs(absl::StatusCode::kInvalidArgument, "EXTRA"));
  request.job = "nosuch";
  EXPECT_THAT(engine_->Submit(request), StatusIs(absl::StatusCode::kNotFound, "nosuch"));
  auto page = engine_->ListExecutions({});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->executions.empty());
}

TEST_F(EngineTest, WriteIntervalIsChecked) {
  for (absl::Duration bad : {absl::Milliseconds(-1), absl::Seconds(2)}) {
    TempDir dir;
    AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::EngineOptions options,
                                  automate::DefaultEngineOptions(dir.path()));
    options.write_interval = bad;
    EXPECT_THAT(automate::Engine::Open(std::move(options)),
                StatusIs(absl::StatusCode::kInvalidArgument, "write_interval"));
  }
}

// With commits as soon as anything changed (no write interval), as with the
// default one: every outcome is durable when Wait() returns.
TEST_F(EngineTest, ZeroWriteIntervalStillMakesEveryOutcomeDurableBeforeWaitReturns) {
  engine_.reset();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::EngineOptions options,
                                automate::DefaultEngineOptions(dir_.path()));
  options.write_interval = absl::ZeroDuration();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(engine_, automate::Engine::Open(std::move(options)));
  Apply(R"(
name: quick
executor: {local: {command: ["true"]}}
)");
  for (int i = 0; i < 20; ++i) {
    v1::Execution done = RunAndWait("quick");
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
    // Wait() answers from memory; the store must already say the same.
    AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution stored, engine_->GetExecution(done.id()));
    EXPECT_EQ(stored.state(), v1::SUCCEEDED);
    EXPECT_EQ(stored.version(), done.version());
  }
}

// A `sleep 60` with the environment a local attempt of execution `id` in
// state dir `dir` has: what a dead engine leaves behind. -1 on failure.
pid_t SpawnOrphanOf(const std::string& dir, const std::string& id) {
  std::string tag = std::filesystem::absolute(dir).lexically_normal().string();
  std::vector<std::string> env = {"AUTOMATE_ENGINE_TAG=" + tag, "AUTOMATE_EXECUTION_ID=" + id};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  char sleep_path[] = "/bin/sleep";
  char sixty[] = "60";
  char* argv[] = {sleep_path, sixty, nullptr};
  pid_t orphan = -1;
  if (posix_spawn(&orphan, sleep_path, nullptr, nullptr, argv, envp.data()) != 0) return -1;
  // posix_spawn returns once the exec has begun; /proc shows the new
  // environment a moment later (as it does for an orphan of a dead engine).
  absl::Time settle = absl::Now() + absl::Seconds(10);
  while (absl::Now() < settle &&
         ReadFileOrDie(absl::StrCat("/proc/", orphan, "/environ")).find(id) == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return orphan;
}

// Expects our child `pid` to die of SIGKILL within 10 s (and kills it if not).
void ExpectKilledSoon(pid_t pid) {
  int status = 0;
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (waitpid(pid, &status, WNOHANG) == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "orphan still running";
  if (!WIFSIGNALED(status)) kill(pid, SIGKILL);
}

// A process of an execution still queued in the store, whose start the
// start journal does not have either (lost with the machine), is an orphan:
// the next engine kills it and runs the execution once.
TEST_F(EngineTest, ProcessOfAnExecutionStillQueuedIsKilledOnRecovery) {
  std::string out = dir_.Join("runs");
  Apply(absl::StrCat("name: once\nexecutor: {local: {command: [\"/bin/sh\", \"-c\", \"echo run >> ",
                     out, "\"]}}\n"));
  engine_.reset();
  // Stored, not started: as if the start was never written.
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::string id, SubmitWithoutStarting(dir_.path(), "once"));
  pid_t orphan = SpawnOrphanOf(dir_.path(), id);
  ASSERT_GT(orphan, 0);
  OpenEngine();
  ExpectKilledSoon(orphan);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution done,
                                engine_->Wait(id, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_EQ(ReadFileOrDie(out), "run\n");
}

// A running execution whose attempt recovery could not even offer to the
// backend (here its log cannot be opened) is lost and retried or failed, so
// whatever still runs for it is an orphan too.
TEST_F(EngineTest, ProcessOfARunningExecutionNotReattachedIsKilledOnRecovery) {
  Apply("name: once\nexecutor: {local: {command: [\"true\"]}}\n");
  engine_.reset();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::string id, SubmitWithoutStarting(dir_.path(), "once"));
  {
    // Stored as running attempt 1, as a dead engine leaves it.
    std::unique_ptr<automate::Store> store = OpenStore(dir_.path());
    ASSERT_NE(store, nullptr);
    AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution exec, store->GetExecution(id));
    v1::Attempt* attempt = exec.add_attempts();
    attempt->set_number(1);
    attempt->set_executor("local");
    attempt->set_status(v1::Attempt::RUNNING);
    *attempt->mutable_start_time() = automate::internal::ToProto(absl::Now());
    exec.set_state(v1::RUNNING);
    ASSERT_TRUE(store->WriteExecutions({&exec}).ok());
  }
  // A directory where its log file should be: the log cannot be opened.
  std::filesystem::create_directories(dir_.Join("logs/" + id + ".log"));
  pid_t orphan = SpawnOrphanOf(dir_.path(), id);
  ASSERT_GT(orphan, 0);
  OpenEngine();
  ExpectKilledSoon(orphan);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution done,
                                engine_->Wait(id, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(done.state(), v1::FAILED);
  EXPECT_EQ(done.error(), "engine restarted");
}

// Wait() returns the final record from memory; it must be the stored one,
// also the cancel flag that another process set in the store.
TEST_F(EngineTest, WaitReturnsExactlyTheStoredRecord) {
  Apply(R"(
name: quick
executor: {local: {command: ["true"]}}
---
name: slow
executor: {local: {command: ["sleep", "100"]}}
)");
  v1::Execution done = RunAndWait("quick");
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution stored, engine_->GetExecution(done.id()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(done, stored))
      << done.DebugString() << "\nstored:\n" << stored.DebugString();

  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution slow, engine_->Submit({.job = "slow"}));
  {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::EngineOptions options,
                                  automate::DefaultEngineOptions(dir_.path()));
    options.dispatch = false;  // Another process's client: sets the store's flag only.
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto client, automate::Engine::Open(std::move(options)));
    AUTOMATE_ASSERT_OK(client->Cancel(slow.id()));
  }
  AUTOMATE_ASSERT_OK(engine_->Cancel(slow.id()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(done, engine_->Wait(slow.id(), absl::Now() + absl::Seconds(30)));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(stored, engine_->GetExecution(slow.id()));
  EXPECT_EQ(done.state(), v1::CANCELLED);
  EXPECT_TRUE(done.cancel_requested());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(done, stored))
      << done.DebugString() << "\nstored:\n" << stored.DebugString();
}

TEST_F(EngineTest, RetriesUntilSuccess) {
  std::string marker = dir_.Join("count");
  Apply(absl::StrCat(R"(
name: flaky
executor:
  local:
    command: ["/bin/sh", "-c", "n=$(cat )", marker, R"( 2>/dev/null || echo 0); n=$((n+1)); echo $n > )",
                     marker, R"(; echo attempt $n; [ $n -ge 3 ]"]
retry: {max_attempts: 5, initial_backoff: 10ms, max_backoff: 20ms}
)"));
  Execution done = RunAndWait("flaky");
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  ASSERT_EQ(done.attempts_size(), 3);
  EXPECT_EQ(done.attempts(0).status(), v1::Attempt::FAILED);
  EXPECT_EQ(done.attempts(0).exit_code(), 1);
  EXPECT_EQ(done.attempts(2).status(), v1::Attempt::SUCCEEDED);
  std::string log = ReadLog(done.id());
  EXPECT_NE(log.find("attempt 1\n"), std::string::npos);
  EXPECT_NE(log.find("attempt 3\n"), std::string::npos);
  EXPECT_NE(log.find("retrying in"), std::string::npos);
}

TEST_F(EngineTest, FailsAfterLastAttempt) {
  Apply(R"(
name: broken
executor: {local: {command: ["/bin/sh", "-c", "exit 7"]}}
retry: {max_attempts: 2, initial_backoff: 10ms}
)");
  Execution done = RunAndWait("broken");
  EXPECT_EQ(done.state(), v1::FAILED);
  EXPECT_EQ(done.attempts_size(), 2);
  EXPECT_EQ(done.exit_code(), 7);
  EXPECT_EQ(done.error(), "exit code 7");
}

TEST_F(EngineTest, CommandNotFoundFailsWithoutRetry) {
  Apply(R"(
name: missing
executor: {local: {command: ["no-such-command-xyz"]}}
retry: {max_attempts: 3, initial_backoff: 10ms}
)");
  Execution done = RunAndWait("missing");
  EXPECT_EQ(done.state(), v1::FAILED);
  EXPECT_EQ(done.attempts_size(), 1);
  EXPECT_NE(done.error().find("no-such-command-xyz"), std::string::npos);
}

TEST_F(EngineTest, TimeoutKillsTheWholeProcessTree) {
  std::string pids = dir_.Join("pids");
  Apply(absl::StrCat(R"(
name: slow
executor:
  local:
    command: ["/bin/sh", "-c", "sleep 1000 & echo $! >> )", pids, R"(; sh -c 'sleep 1000 & echo $! >> )", pids,
                     R"(; wait' & echo $$ >> )", pids, R"(; wait"]
timeout: 500ms
)"));
  Execution done = RunAndWait("slow");
  EXPECT_EQ(done.state(), v1::TIMED_OUT);
  ASSERT_EQ(done.attempts_size(), 1);
  EXPECT_EQ(done.attempts(0).status(), v1::Attempt::TIMED_OUT);
  std::string content = ReadFileOrDie(pids);
  std::vector<std::string> lines = absl::StrSplit(content, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << content;
  for (const std::string& line : lines) {
    int pid = 0;
    ASSERT_TRUE(absl::SimpleAtoi(line, &pid));
    // The engine reaps its child; grandchildren are reparented and reaped by
    // init or a subreaper, so give that a moment without sleeping blindly.
    absl::Time until = absl::Now() + absl::Seconds(10);
    while (ProcessAlive(pid) && absl::Now() < until) std::this_thread::yield();
    EXPECT_FALSE(ProcessAlive(pid)) << "pid " << pid << " survived the timeout";
  }
}

TEST_F(EngineTest, CancelWhileRunning) {
  Apply(R"(
name: sleeper
executor: {local: {command: ["/bin/sh", "-c", "echo started; exec sleep 1000"]}}
)");
  auto exec = engine_->Submit({.job = "sleeper"});
  ASSERT_TRUE(exec.ok()) << exec.status();
  // Follow the log until the process has started, then cancel.
  auto reader = engine_->OpenLog(exec->id(), 0, true);
  ASSERT_TRUE(reader.ok());
  std::vector<automate::LogChunk> chunks;
  ASSERT_TRUE((*reader)->Read(&chunks, 1024, absl::Now() + absl::Seconds(30)).ok());
  AUTOMATE_ASSERT_OK(engine_->Cancel(exec->id()));
  auto done = engine_->Wait(exec->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::CANCELLED);
  EXPECT_EQ(done->attempts(0).status(), v1::Attempt::CANCELLED);
  EXPECT_EQ(done->attempts(0).signal(), SIGTERM);
  EXPECT_THAT(engine_->Cancel(exec->id()), StatusIs(absl::StatusCode::kFailedPrecondition, "already"));
}

TEST_F(EngineTest, CancelWhileQueued) {
  OpenEngine(/*max_running=*/1);
  Apply(R"(
name: sleeper
executor: {local: {command: ["sleep", "1000"]}}
)");
  auto first = engine_->Submit({.job = "sleeper"});
  auto second = engine_->Submit({.job = "sleeper"});
  ASSERT_TRUE(first.ok() && second.ok());
  AUTOMATE_ASSERT_OK(engine_->Cancel(second->id()));
  auto done = engine_->Wait(second->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::CANCELLED);
  EXPECT_EQ(done->attempts_size(), 0);
  AUTOMATE_ASSERT_OK(engine_->Cancel(first->id()));
  auto first_done = engine_->Wait(first->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(first_done.ok());
  EXPECT_EQ(first_done->state(), v1::CANCELLED);
}

TEST_F(EngineTest, TermIgnoringProcessIsKilledAfterGrace) {
  OpenEngine(16, absl::Milliseconds(200));
  Apply(R"(
name: stubborn
executor: {local: {command: ["/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]}}
)");
  auto exec = engine_->Submit({.job = "stubborn"});
  ASSERT_TRUE(exec.ok());
  auto reader = engine_->OpenLog(exec->id(), 0, true);
  ASSERT_TRUE(reader.ok());
  std::vector<automate::LogChunk> chunks;
  ASSERT_TRUE((*reader)->Read(&chunks, 1024, absl::Now() + absl::Seconds(30)).ok());
  AUTOMATE_ASSERT_OK(engine_->Cancel(exec->id()));
  auto done = engine_->Wait(exec->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::CANCELLED);
  EXPECT_EQ(done->attempts(0).signal(), SIGKILL);
}

TEST_F(EngineTest, SecretsAreInjectedAndMaskedInLogs) {
  AUTOMATE_ASSERT_OK(engine_->SetSecret("TOKEN", "hunter2-s3cr3t"));
  Apply(R"(
name: leaky
executor:
  local:
    command: ["/bin/sh", "-c", "echo token=$TOKEN; printf %s \"$TOKEN\" | base64; echo done"]
secrets: [TOKEN]
)");
  Execution done = RunAndWait("leaky");
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  std::string log = ReadLog(done.id());
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  EXPECT_EQ(log.find("aHVudGVyMi1zM2NyM3Q"), std::string::npos) << log;  // base64
  EXPECT_NE(log.find("token=****"), std::string::npos) << log;
  // Never in the stored execution either.
  auto stored = engine_->GetExecution(done.id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->DebugString().find("hunter2"), std::string::npos);
}

TEST_F(EngineTest, MissingSecretIsRefusedAtSubmit) {
  Apply(R"(
name: needs-secret
executor: {local: {command: ["true"]}}
secrets: [NOT_SET]
)");
  EXPECT_THAT(engine_->Submit({.job = "needs-secret"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "NOT_SET"));
}

TEST_F(EngineTest, RunsAPastJobVersion) {
  Apply("name: v\nexecutor: {local: {command: [\"/bin/sh\", \"-c\", \"echo one\"]}}\n");
  Apply("name: v\nexecutor: {local: {command: [\"/bin/sh\", \"-c\", \"echo two\"]}}\n");
  auto exec = engine_->Submit({.job = "v", .job_version = 1});
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ(exec->job_version(), 1);
  auto done = engine_->Wait(exec->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(ReadLog(exec->id()), "one\n");
  EXPECT_THAT(engine_->Submit({.job = "v", .job_version = 9}),
              StatusIs(absl::StatusCode::kNotFound, "version 9"));
}

TEST_F(EngineTest, HundredMegabytesOfLogsCompleteAndOrdered) {
  // seq writes numbered lines: any loss, duplicate or reordering shows.
  Apply(R"(
name: chatty
executor: {local: {command: ["seq", "1", "12500000"]}}
)");
  Execution done = RunAndWait("chatty");
  ASSERT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_GT(done.log_bytes(), 100'000'000);
  auto reader = engine_->OpenLog(done.id(), 0, false);
  ASSERT_TRUE(reader.ok());
  std::vector<automate::LogChunk> chunks;
  std::string pending;
  int64_t expected = 1;
  int64_t offset = 0;
  while (true) {
    chunks.clear();
    auto n = (*reader)->Read(&chunks, 4 << 20, absl::Now() + absl::Seconds(10));
    if (!n.ok()) break;
    for (auto& c : chunks) {
      ASSERT_EQ(c.offset, offset);
      offset += static_cast<int64_t>(c.data.size());
      ASSERT_EQ(c.stream, v1::STDOUT);
      pending += c.data;
    }
    size_t start = 0, nl;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      ASSERT_EQ(pending.substr(start, nl - start), std::to_string(expected)) << "at line " << expected;
      ++expected;
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  EXPECT_EQ(expected, 12500001);
  EXPECT_EQ(offset, done.log_bytes());
}

TEST_F(EngineTest, FollowerAttachedMidRunGetsEverythingAfterItsOffset) {
  std::string go = dir_.Join("go");
  Apply(absl::StrCat(R"(
name: twophase
executor:
  local:
    command: ["/bin/sh", "-c", "seq 1 1000; while [ ! -e )", go, R"( ]; do sleep 0.01; done; seq 1001 2000"]
)"));
  auto exec = engine_->Submit({.job = "twophase"});
  ASSERT_TRUE(exec.ok());
  // Read the first phase completely with one follower.
  auto first = engine_->OpenLog(exec->id(), 0, true);
  ASSERT_TRUE(first.ok());
  std::string seen;
  std::vector<automate::LogChunk> chunks;
  while (seen.size() < 3893) {  // bytes of "1\n".."1000\n"
    chunks.clear();
    ASSERT_TRUE((*first)->Read(&chunks, 1 << 20, absl::Now() + absl::Seconds(30)).ok());
    for (auto& c : chunks) seen += c.data;
  }
  // Attach a second follower in the middle of the first phase.
  const int64_t mid = 1000;
  auto second = engine_->OpenLog(exec->id(), mid, true);
  ASSERT_TRUE(second.ok());
  WriteFileOrDie(go, "");
  std::string tail;
  while (true) {
    chunks.clear();
    auto n = (*second)->Read(&chunks, 1 << 20, absl::Now() + absl::Seconds(30));
    if (!n.ok()) {
      EXPECT_EQ(n.status().code(), absl::StatusCode::kOutOfRange);
      break;
    }
    for (auto& c : chunks) tail += c.data;
  }
  std::string all = ReadLog(exec->id());
  EXPECT_EQ(tail, all.substr(mid));
  EXPECT_NE(all.find("\n2000\n"), std::string::npos);
}

TEST_F(EngineTest, LogLimitFailEndsTheAttempt) {
  Apply(R"(
name: runaway
executor: {local: {command: ["/bin/sh", "-c", "yes runaway-output"]}}
log_limit: {bytes: 64Ki, action: fail}
)");
  Execution done = RunAndWait("runaway");
  EXPECT_EQ(done.state(), v1::FAILED);
  EXPECT_EQ(done.error(), "log limit exceeded");
  EXPECT_LT(done.log_bytes(), 64 * 1024 + 4096);
  std::string log = ReadLog(done.id());
  EXPECT_NE(log.find("log limit"), std::string::npos);
}

TEST_F(EngineTest, LogLimitTruncateLetsTheJobFinish) {
  Apply(R"(
name: verbose
executor: {local: {command: ["/bin/sh", "-c", "seq 1 100000; echo finished >&2; exit 0"]}}
log_limit: {bytes: 10Ki, action: truncate}
)");
  Execution done = RunAndWait("verbose");
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_LT(done.log_bytes(), 10 * 1024 + 4096);
}

TEST_F(EngineTest, StateSurvivesReopen) {
  Apply("name: quick\nexecutor: {local: {command: [\"true\"]}}\n");
  Execution done = RunAndWait("quick");
  ASSERT_EQ(done.state(), v1::SUCCEEDED);
  OpenEngine();
  auto again = engine_->GetExecution(done.id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state(), v1::SUCCEEDED);
  auto jobs = engine_->ListJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
}

// Attempts are started on starter threads; a job as short as `true` often
// ends before its starter has recorded the attempt. Every such outcome must
// still be seen, or the execution would stay RUNNING for good.
TEST_F(EngineTest, ABurstOfInstantJobsAllFinish) {
  OpenEngine(/*max_running=*/4);
  Apply("name: instant\nexecutor: {local: {command: [\"true\"]}}\n");
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) {
    automate::SubmitRequest request;
    request.job = "instant";
    auto exec = engine_->Submit(request);
    ASSERT_TRUE(exec.ok()) << exec.status();
    ids.push_back(exec->id());
  }
  for (const std::string& id : ids) {
    auto done = engine_->Wait(id, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(done.ok()) << id << ": " << done.status();
    ASSERT_EQ(done->state(), v1::SUCCEEDED) << done->DebugString();
    ASSERT_EQ(done->attempts_size(), 1);
  }
  EXPECT_EQ(engine_->ActiveCount(), 0);
}

// Clients of the store (the CLI in local mode) submit PENDING executions
// that the dispatching engine polls for. A poll must never admit an
// execution a second time because its query ran before the writer's commit
// and the execution finished in between; a second admission would write a
// stale version and wedge every execution of that batch.
TEST_F(EngineTest, StoreClientsSubmissionsAreEachRunOnce) {
  engine_.reset();
  auto options = automate::DefaultEngineOptions(dir_.path());
  ASSERT_TRUE(options.ok()) << options.status();
  options->poll_interval = absl::Milliseconds(1);
  auto dispatcher = automate::Engine::Open(std::move(*options));
  ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
  engine_ = std::move(*dispatcher);
  Apply("name: instant\nexecutor: {local: {command: [\"true\"]}}\n");
  auto client_options = automate::DefaultEngineOptions(dir_.path());
  ASSERT_TRUE(client_options.ok());
  client_options->dispatch = false;
  client_options->poll_interval = absl::Milliseconds(5);
  auto client = automate::Engine::Open(std::move(*client_options));
  ASSERT_TRUE(client.ok()) << client.status();
  // The race needs unlucky timing: 900 submissions catch it most times.
  std::vector<std::string> ids(900);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 900; i += 4) {
        automate::SubmitRequest request;
        request.job = "instant";
        auto exec = (*client)->Submit(request);
        if (exec.ok()) ids[i] = exec->id();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    auto done = (*client)->Wait(id, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(done.ok()) << id << ": " << done.status();
    ASSERT_EQ(done->state(), v1::SUCCEEDED) << done->DebugString();
    ASSERT_EQ(done->attempts_size(), 1) << done->DebugString();
  }
}

}  // namespace
}  // namespace automate_testing
