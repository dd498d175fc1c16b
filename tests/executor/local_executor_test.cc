// Tests of the local executor with real processes. No test sleeps: each waits
// for on_done (or for output) with a generous deadline.
#include "automate/local_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "automate/testing/fake_clock.h"
#include "executor/local/proc_scan.h"
#include "executor/local/process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using ::automate_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(30);

// Collects the bytes of each stream.
class CollectingSink : public LogSink {
 public:
  void Write(v1::LogStream stream, absl::string_view data, absl::Time) override {
    absl::MutexLock lock(&mu_);
    (stream == v1::STDERR ? err_ : out_).append(data.data(), data.size());
  }
  std::string out() {
    absl::MutexLock lock(&mu_);
    return out_;
  }
  std::string err() {
    absl::MutexLock lock(&mu_);
    return err_;
  }
  // Waits until stdout contains `text`.
  bool WaitForStdout(const std::string& text, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto has_text = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return out_.find(text) != std::string::npos;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&has_text), timeout);
  }

 private:
  absl::Mutex mu_;
  std::string out_ ABSL_GUARDED_BY(mu_);
  std::string err_ ABSL_GUARDED_BY(mu_);
};

// Records the outcome; counts calls to catch a second on_done. The state is
// shared with the callback, so that the observer thread never touches it
// after the test has dropped it (Notify() may still be unlocking).
class Done {
 public:
  Done()
      : state_(std::make_shared<State>()),
        notification(state_->notification),
        outcome(state_->outcome),
        calls(state_->calls) {}
  Done(const Done&) = delete;
  Done& operator=(const Done&) = delete;

  Executor::DoneCallback Callback() {
    return [state = state_](AttemptOutcome o) {
      if (state->calls.fetch_add(1) == 0) {
        state->outcome = std::move(o);
        state->notification.Notify();
      }
    };
  }
  bool Wait(absl::Duration timeout = kWait) {
    return notification.WaitForNotificationWithTimeout(timeout);
  }

 private:
  struct State {
    absl::Notification notification;
    AttemptOutcome outcome;
    std::atomic<int> calls{0};
  };
  std::shared_ptr<State> state_;

 public:
  absl::Notification& notification;
  AttemptOutcome& outcome;  // Valid once notified.
  std::atomic<int>& calls;
};

std::string NewId() {
  static std::atomic<int> counter{0};
  return absl::StrCat("exec-test-", getpid(), "-", counter.fetch_add(1));
}

v1::JobSpec Job(std::vector<std::string> command) {
  v1::JobSpec job;
  job.set_name("test");
  job.mutable_executor()->mutable_local();
  for (auto& arg : command) job.mutable_executor()->mutable_local()->add_command(arg);
  return job;
}

v1::JobSpec Shell(const std::string& script) { return Job({"sh", "-c", script}); }

Executor::StartParams Params(const v1::JobSpec& job, LogSink* sink, Done* done,
                             std::string id = NewId()) {
  Executor::StartParams params;
  params.execution_id = std::move(id);
  params.attempt = 1;
  params.job = &job;
  params.log_sink = sink;
  params.on_done = done->Callback();
  return params;
}

// True once `pid` has exited (a zombie counts) or is gone; waits on a pidfd.
bool WaitForExit(pid_t pid, absl::Duration timeout = kWait) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  close(fd);
  return n == 1;
}

std::vector<pid_t> ReadPids(const std::string& path) {
  std::vector<pid_t> pids;
  for (absl::string_view line :
       absl::StrSplit(automate_testing::ReadFileOrDie(path), '\n', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
  }
  return pids;
}

std::map<std::string, std::string> ParseEnviron(const std::string& block) {
  std::map<std::string, std::string> env;
  for (absl::string_view entry : absl::StrSplit(block, '\0', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    env[kv.first] = kv.second;
  }
  return env;
}

// Spawns `sleep 1000` in a new process group with `env`, the way an earlier
// engine would have, and waits until its exec has finished: posix_spawn
// returns as soon as the child released our memory, which is before the
// kernel has set up the new environment that /proc/<pid>/environ shows.
// The caller reaps it.
pid_t SpawnLeftover(const std::vector<std::string>& env) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Not our stdout: a leaked process must not hold a test runner's pipe.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char arg0[] = "sleep", arg1[] = "1000";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = -1;
  int err = posix_spawn(&pid, "/bin/sleep", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return -1;
  std::string path = absl::StrCat("/proc/", pid, "/environ");
  absl::Time deadline = absl::Now() + kWait;
  while (automate_testing::ReadFileOrDie(path).empty() && absl::Now() < deadline) {
    sched_yield();
  }
  return pid;
}

// Waits for a child of this test process and returns its wait status.
int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

class LocalExecutorTest : public ::testing::Test {
 protected:
  // Runs `job` to the end and returns the outcome.
  AttemptOutcome Run(const v1::JobSpec& job, CollectingSink* sink) {
    Done done;
    auto handle = executor_->Start(Params(job, sink, &done));
    EXPECT_TRUE(handle.ok()) << handle.status();
    if (!handle.ok()) return AttemptOutcome::Error(handle.status());
    EXPECT_TRUE(done.Wait());
    return done.outcome;
  }

  automate_testing::TempDir tmp_;
  std::unique_ptr<Executor> executor_ = MakeLocalExecutor({.engine_tag = "test-engine"});
};

TEST_F(LocalExecutorTest, ExitZero) {
  CollectingSink sink;
  Done done;
  v1::JobSpec job = Job({"true"});
  auto handle = executor_->Start(Params(job, &sink, &done));
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_THAT((*handle)->external_id(), ::testing::MatchesRegex("[0-9]+:[0-9]+"));
  ASSERT_TRUE(done.Wait());
  EXPECT_TRUE(done.outcome.succeeded());
  EXPECT_FALSE(done.outcome.signal.has_value());
  EXPECT_EQ(done.calls.load(), 1);
}

// The start is stamped during Start() (the stamp is taken just before the
// process is created) with the caller's clock; without a clock, with the
// real one.
TEST_F(LocalExecutorTest, StartTimeIsStampedDuringStartByTheGivenClock) {
  CollectingSink sink;
  Done done;
  v1::JobSpec job = Job({"true"});
  automate_testing::FakeClock clock;
  Executor::StartParams params = Params(job, &sink, &done);
  params.clock = &clock;
  auto handle = executor_->Start(std::move(params));
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ((*handle)->start_time(), clock.Now());
  ASSERT_TRUE(done.Wait());

  Done done2;
  absl::Time before = absl::Now();
  auto real = executor_->Start(Params(job, &sink, &done2));
  absl::Time after = absl::Now();
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_GE((*real)->start_time(), before);
  EXPECT_LE((*real)->start_time(), after);
  ASSERT_TRUE(done2.Wait());
}

TEST_F(LocalExecutorTest, ExitCode) {
  CollectingSink sink;
  AttemptOutcome outcome = Run(Shell("exit 3"), &sink);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_FALSE(outcome.succeeded());
}

TEST_F(LocalExecutorTest, KilledBySignal) {
  CollectingSink sink;
  AttemptOutcome outcome = Run(Shell("kill -USR1 $$"), &sink);
  EXPECT_FALSE(outcome.exit_code.has_value());
  EXPECT_EQ(outcome.signal, SIGUSR1);
}

TEST_F(LocalExecutorTest, SeparatesStreamsAndKeepsBinaryBytes) {
  CollectingSink sink;
  AttemptOutcome outcome =
      Run(Shell("printf 'a\\000\\377\\376b'; printf '\\001\\200\\n' >&2; printf 'c'"), &sink);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(sink.out(), std::string("a\0\377\376bc", 6));
  EXPECT_EQ(sink.err(), std::string("\001\200\n", 3));
}

TEST_F(LocalExecutorTest, MinimalEnvironmentWithJobEnvParamsAndSecrets) {
  setenv("AUTOMATE_TEST_ENGINE_ONLY", "engine", 1);
  v1::JobSpec job = Job({"cat", "/proc/self/environ"});
  auto& env = *job.mutable_executor()->mutable_local()->mutable_env();
  env["FROM_JOB"] = "job";
  env["OVERRIDDEN"] = "job";
  CollectingSink sink;
  Done done;
  Executor::StartParams params = Params(job, &sink, &done, "exec-env-1");
  params.attempt = 2;
  params.env = {{"OVERRIDDEN", "param"}, {"SECRET_TOKEN", "s3cr3t"}, {"LATER", "first"},
                {"LATER", "second"}};
  ASSERT_TRUE(executor_->Start(std::move(params)).ok());
  ASSERT_TRUE(done.Wait());
  std::map<std::string, std::string> got = ParseEnviron(sink.out());
  EXPECT_EQ(got["FROM_JOB"], "job");
  EXPECT_EQ(got["OVERRIDDEN"], "param");
  EXPECT_EQ(got["SECRET_TOKEN"], "s3cr3t");
  EXPECT_EQ(got["LATER"], "second");
  EXPECT_EQ(got["AUTOMATE_EXECUTION_ID"], "exec-env-1");
  EXPECT_EQ(got["AUTOMATE_ATTEMPT"], "2");
  EXPECT_EQ(got["AUTOMATE_ENGINE_TAG"], "test-engine");
  EXPECT_FALSE(got["PATH"].empty());
  EXPECT_EQ(got.count("AUTOMATE_TEST_ENGINE_ONLY"), 0u);
  const std::set<std::string> allowed = {
      "PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR", "FROM_JOB",
      "OVERRIDDEN", "SECRET_TOKEN", "LATER", "AUTOMATE_EXECUTION_ID", "AUTOMATE_ATTEMPT",
      "AUTOMATE_ENGINE_TAG"};
  for (const auto& [name, value] : got) EXPECT_TRUE(allowed.contains(name)) << name;
}

TEST_F(LocalExecutorTest, InheritEnv) {
  setenv("AUTOMATE_TEST_ENGINE_ONLY", "engine", 1);
  v1::JobSpec job = Job({"cat", "/proc/self/environ"});
  job.mutable_executor()->mutable_local()->set_inherit_env(true);
  (*job.mutable_executor()->mutable_local()->mutable_env())["AUTOMATE_TEST_ENGINE_ONLY"] = "job";
  CollectingSink sink;
  ASSERT_EQ(Run(job, &sink).exit_code, 0);
  EXPECT_EQ(ParseEnviron(sink.out())["AUTOMATE_TEST_ENGINE_ONLY"], "job");

  job.mutable_executor()->mutable_local()->clear_env();
  CollectingSink sink2;
  ASSERT_EQ(Run(job, &sink2).exit_code, 0);
  EXPECT_EQ(ParseEnviron(sink2.out())["AUTOMATE_TEST_ENGINE_ONLY"], "engine");
}

TEST_F(LocalExecutorTest, WorkingDirAndRelativeCommand) {
  automate_testing::WriteFileOrDie(tmp_.Join("hello.sh"), "#!/bin/sh\npwd\n");
  ASSERT_EQ(chmod(tmp_.Join("hello.sh").c_str(), 0755), 0);
  v1::JobSpec job = Job({"./hello.sh"});
  job.mutable_executor()->mutable_local()->set_working_dir(tmp_.path());
  CollectingSink sink;
  ASSERT_EQ(Run(job, &sink).exit_code, 0);
  char* real = realpath(tmp_.path().c_str(), nullptr);
  EXPECT_EQ(sink.out(), absl::StrCat(real, "\n"));
  free(real);
}

TEST_F(LocalExecutorTest, CommandSearchedInChildPath) {
  automate_testing::WriteFileOrDie(tmp_.Join("only-here"), "#!/bin/sh\necho found\n");
  ASSERT_EQ(chmod(tmp_.Join("only-here").c_str(), 0755), 0);
  v1::JobSpec job = Job({"only-here"});
  (*job.mutable_executor()->mutable_local()->mutable_env())["PATH"] =
      absl::StrCat("/nonexistent:", tmp_.path(), ":/bin:/usr/bin");
  CollectingSink sink;
  ASSERT_EQ(Run(job, &sink).exit_code, 0);
  EXPECT_EQ(sink.out(), "found\n");
}

// What a PATH search found is remembered for the ttl, per command, PATH and
// working dir; a failed search is not remembered.
TEST_F(LocalExecutorTest, PathSearchIsRememberedForItsTtl) {
  std::string first = tmp_.Join("first"), second = tmp_.Join("second");
  ASSERT_EQ(mkdir(first.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(second.c_str(), 0755), 0);
  std::string path = absl::StrCat(first, ":", second);
  std::string name = absl::StrCat("automate-ttl-", getpid());
  absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  EXPECT_THAT(internal::ResolveCommandCached(name, path, "", t0),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not found"));
  auto make = [&](const std::string& dir) {
    automate_testing::WriteFileOrDie(absl::StrCat(dir, "/", name), "#!/bin/sh\n");
    ASSERT_EQ(chmod(absl::StrCat(dir, "/", name).c_str(), 0755), 0);
  };
  make(second);  // Not found before: searched again at once.
  EXPECT_EQ(internal::ResolveCommandCached(name, path, "", t0).value_or(""),
            absl::StrCat(second, "/", name));
  make(first);  // Earlier in PATH: seen once the ttl has passed.
  EXPECT_EQ(internal::ResolveCommandCached(name, path, "", t0 + absl::Milliseconds(999))
                .value_or(""),
            absl::StrCat(second, "/", name));
  EXPECT_EQ(internal::ResolveCommandCached(name, absl::StrCat(path, ":/bin"), "", t0).value_or(""),
            absl::StrCat(first, "/", name));  // Another PATH: its own search.
  EXPECT_EQ(internal::ResolveCommandCached(name, path, "", t0 + absl::Seconds(1)).value_or(""),
            absl::StrCat(first, "/", name));
  // A clock that went back does not make an old answer current.
  ASSERT_EQ(unlink(absl::StrCat(first, "/", name).c_str()), 0);
  EXPECT_EQ(internal::ResolveCommandCached(name, path, "", t0).value_or(""),
            absl::StrCat(second, "/", name));
}

TEST_F(LocalExecutorTest, CommandNotFound) {
  v1::JobSpec job = Job({"nosuch-automate-command"});
  CollectingSink sink;
  Done done;
  Executor::StartParams params = Params(job, &sink, &done);
  params.env = {{"SECRET_TOKEN", "s3cr3t"}};
  auto handle = executor_->Start(std::move(params));
  EXPECT_THAT(handle, StatusIs(absl::StatusCode::kFailedPrecondition,
                               "local: command \"nosuch-automate-command\" not found in the job's PATH"));
  EXPECT_THAT(std::string(handle.status().message()), Not(HasSubstr("s3cr3t")));
  EXPECT_EQ(done.calls.load(), 0);
}

TEST_F(LocalExecutorTest, NotExecutable) {
  automate_testing::WriteFileOrDie(tmp_.Join("data.txt"), "not a program\n");
  CollectingSink sink;
  Done done;
  v1::JobSpec job = Job({tmp_.Join("data.txt")});
  EXPECT_THAT(executor_->Start(Params(job, &sink, &done)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "Permission denied"));
}

TEST_F(LocalExecutorTest, BadWorkingDir) {
  v1::JobSpec job = Job({"true"});
  job.mutable_executor()->mutable_local()->set_working_dir("/nonexistent/automate");
  CollectingSink sink;
  Done done;
  EXPECT_THAT(executor_->Start(Params(job, &sink, &done)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "local: working_dir /nonexistent/automate: No such file or directory"));
}

TEST_F(LocalExecutorTest, ValidateRejectsBadSpecs) {
  v1::JobSpec none;
  EXPECT_THAT(executor_->Validate(none),
              StatusIs(absl::StatusCode::kInvalidArgument, "executor.local"));
  EXPECT_THAT(executor_->Validate(Job({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "executor.local.command: must not be empty"));
  EXPECT_THAT(executor_->Validate(Job({""})),
              StatusIs(absl::StatusCode::kInvalidArgument, "executor.local.command[0]"));
  v1::JobSpec relative = Job({"true"});
  relative.mutable_executor()->mutable_local()->set_working_dir("tmp");
  EXPECT_THAT(executor_->Validate(relative),
              StatusIs(absl::StatusCode::kInvalidArgument, "executor.local.working_dir"));
  v1::JobSpec bad_env = Job({"true"});
  (*bad_env.mutable_executor()->mutable_local()->mutable_env())["1X"] = "v";
  EXPECT_THAT(executor_->Validate(bad_env),
              StatusIs(absl::StatusCode::kInvalidArgument, "executor.local.env"));
  EXPECT_TRUE(executor_->Validate(Job({"true"})).ok());

  CollectingSink sink;
  Done done;
  v1::JobSpec empty = Job({});
  EXPECT_THAT(executor_->Start(Params(empty, &sink, &done)),
              StatusIs(absl::StatusCode::kInvalidArgument, "must not be empty"));
}

TEST_F(LocalExecutorTest, CancelSendsTermFirst) {
  CollectingSink sink;
  Done done;
  v1::JobSpec job =
      Shell("trap 'echo got-term; exit 7' TERM; echo ready; sleep 1000 & wait");
  auto handle = executor_->Start(Params(job, &sink, &done));
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(sink.WaitForStdout("ready"));
  absl::Time start = absl::Now();
  (*handle)->Cancel(absl::Seconds(60));
  (*handle)->Cancel(absl::Seconds(60));  // Idempotent.
  ASSERT_TRUE(done.Wait());
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_EQ(done.outcome.exit_code, 7);
  EXPECT_THAT(sink.out(), HasSubstr("got-term"));
  (*handle)->Cancel(absl::ZeroDuration());  // A no-op once done.
  EXPECT_EQ(done.calls.load(), 1);
}

TEST_F(LocalExecutorTest, CancelKillsAfterGraceWhenTermIgnored) {
  CollectingSink sink;
  Done done;
  auto handle = executor_->Start(Params(Shell("trap '' TERM; echo ready; sleep 1000"), &sink,
                                        &done));
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(sink.WaitForStdout("ready"));
  absl::Time start = absl::Now();
  (*handle)->Cancel(absl::Milliseconds(300));
  ASSERT_TRUE(done.Wait());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(done.outcome.signal, SIGKILL);
}

TEST_F(LocalExecutorTest, CancelKillsGrandchildrenAndEscapees) {
  std::string pids = tmp_.Join("pids");
  std::string script = absl::StrCat(
      "sleep 1000 & echo $! >> ", pids, "; sleep 1000 & echo $! >> ", pids,
      "; setsid sh -c 'echo $$ >> ", pids, "; exec sleep 1000' & ",
      "setsid sh -c 'trap \"\" TERM; echo $$ >> ", pids, "; exec sleep 1000' & ",
      "while [ $(wc -l < ", pids, ") -lt 4 ]; do sleep 0.01; done; echo ready; wait");
  CollectingSink sink;
  Done done;
  auto handle = executor_->Start(Params(Shell(script), &sink, &done));
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(sink.WaitForStdout("ready"));
  std::vector<pid_t> started = ReadPids(pids);
  ASSERT_EQ(started.size(), 4u);
  (*handle)->Cancel(absl::Milliseconds(200));
  ASSERT_TRUE(done.Wait());
  for (pid_t pid : started) EXPECT_TRUE(WaitForExit(pid)) << "pid " << pid << " survived";
}

TEST_F(LocalExecutorTest, BackgroundProcessKilledWhenMainExits) {
  std::string pids = tmp_.Join("pids");
  CollectingSink sink;
  absl::Time start = absl::Now();
  AttemptOutcome outcome =
      Run(Shell(absl::StrCat("sleep 1000 & echo $! > ", pids, "; echo done")), &sink);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));  // Killed, not drained for 2s.
  EXPECT_EQ(sink.out(), "done\n");
  for (pid_t pid : ReadPids(pids)) EXPECT_TRUE(WaitForExit(pid));
}

TEST_F(LocalExecutorTest, EscapeeHoldingPipeDoesNotBlockOnDone) {
  std::string pids = tmp_.Join("pids");
  CollectingSink sink;
  AttemptOutcome outcome = Run(
      Shell(absl::StrCat("setsid sh -c 'echo $$ > ", pids, "; exec sleep 1000' & ",
                         "while [ ! -s ", pids, " ]; do sleep 0.01; done; echo done")),
      &sink);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(sink.out(), "done\n");
  for (pid_t pid : ReadPids(pids)) EXPECT_TRUE(WaitForExit(pid));
}

TEST_F(LocalExecutorTest, LargeOutputIsIntact) {
  std::mt19937_64 random(42);
  std::string big(50 << 20, '\0');
  for (size_t i = 0; i < big.size(); i += 8) {
    uint64_t r = random();
    memcpy(&big[i], &r, 8);
  }
  std::string small = big.substr(1000, 5 << 20);
  automate_testing::WriteFileOrDie(tmp_.Join("big"), big);
  automate_testing::WriteFileOrDie(tmp_.Join("small"), small);
  CollectingSink sink;
  AttemptOutcome outcome = Run(
      Shell(absl::StrCat("cat ", tmp_.Join("big"), " & cat ", tmp_.Join("small"), " >&2; wait")),
      &sink);
  EXPECT_EQ(outcome.exit_code, 0);
  std::string out = sink.out(), err = sink.err();
  EXPECT_EQ(out.size(), big.size());
  EXPECT_TRUE(out == big);
  EXPECT_EQ(err.size(), small.size());
  EXPECT_TRUE(err == small);
}

TEST_F(LocalExecutorTest, TwoHundredConcurrentAttempts) {
  constexpr int kCount = 200;
  std::vector<std::unique_ptr<CollectingSink>> sinks;
  std::vector<std::unique_ptr<Done>> dones;
  std::vector<std::unique_ptr<AttemptHandle>> handles;
  v1::JobSpec job = Shell("echo out-$AUTOMATE_ATTEMPT; echo err-$AUTOMATE_ATTEMPT >&2; sleep 1");
  for (int i = 0; i < kCount; ++i) {
    sinks.push_back(std::make_unique<CollectingSink>());
    dones.push_back(std::make_unique<Done>());
    Executor::StartParams params = Params(job, sinks.back().get(), dones.back().get());
    params.attempt = i + 1;
    auto handle = executor_->Start(std::move(params));
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(dones[i]->Wait()) << i;
    EXPECT_EQ(dones[i]->outcome.exit_code, 0);
    EXPECT_EQ(sinks[i]->out(), absl::StrCat("out-", i + 1, "\n"));
    EXPECT_EQ(sinks[i]->err(), absl::StrCat("err-", i + 1, "\n"));
  }
}

TEST_F(LocalExecutorTest, HandleDestroyedInsideOnDone) {
  struct Shared {
    absl::Mutex mu;
    std::unique_ptr<AttemptHandle> handle ABSL_GUARDED_BY(mu);
    bool assigned ABSL_GUARDED_BY(mu) = false;
  };
  CollectingSink sink;
  v1::JobSpec job = Job({"true"});
  for (int i = 0; i < 20; ++i) {
    auto shared = std::make_shared<Shared>();
    auto destroyed = std::make_shared<absl::Notification>();
    Executor::StartParams params;
    params.execution_id = NewId();
    params.job = &job;
    params.log_sink = &sink;
    params.on_done = [shared, destroyed](AttemptOutcome) {
      {
        absl::MutexLock lock(&shared->mu);
        shared->mu.Await(absl::Condition(&shared->assigned));
        shared->handle.reset();
      }
      destroyed->Notify();
    };
    auto started = executor_->Start(std::move(params));
    ASSERT_TRUE(started.ok()) << started.status();
    {
      absl::MutexLock lock(&shared->mu);
      shared->handle = std::move(*started);
      shared->assigned = true;
    }
    ASSERT_TRUE(destroyed->WaitForNotificationWithTimeout(kWait));
  }
}

TEST_F(LocalExecutorTest, HandleDestroyedWhileRunning) {
  CollectingSink sink;
  Done done;
  v1::JobSpec job = Shell("echo hi");
  {
    auto handle = executor_->Start(Params(job, &sink, &done));
    ASSERT_TRUE(handle.ok());
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(done.outcome.exit_code, 0);
  EXPECT_EQ(sink.out(), "hi\n");
}

TEST_F(LocalExecutorTest, DestroyingExecutorKillsAttemptsAndCallsOnDone) {
  std::string pids = tmp_.Join("pids");
  constexpr int kCount = 5;
  CollectingSink sinks[kCount];
  Done dones[kCount];
  std::vector<std::unique_ptr<AttemptHandle>> handles;
  v1::JobSpec job = Shell(absl::StrCat(
      "setsid sh -c 'echo $$ >> ", pids, "; exec sleep 1000' & echo $$ >> ", pids,
      "; echo ready; exec sleep 1000"));
  for (int i = 0; i < kCount; ++i) {
    auto handle = executor_->Start(Params(job, &sinks[i], &dones[i]));
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (auto& sink : sinks) ASSERT_TRUE(sink.WaitForStdout("ready"));
  absl::Time start = absl::Now();
  executor_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  for (auto& done : dones) {
    ASSERT_TRUE(done.notification.HasBeenNotified());
    EXPECT_EQ(done.outcome.signal, SIGKILL);
  }
  for (pid_t pid : ReadPids(pids)) EXPECT_TRUE(WaitForExit(pid)) << pid;
  handles[0]->Cancel(absl::ZeroDuration());  // Outlives the executor harmlessly.
}

TEST_F(LocalExecutorTest, ReattachKillsLeftoversAndReturnsNotFound) {
  std::string id = NewId();
  std::string marker = absl::StrCat("AUTOMATE_EXECUTION_ID=", id);
  pid_t leader = SpawnLeftover({marker});
  pid_t escaped = SpawnLeftover({marker});  // Its own group, found by env.
  ASSERT_GT(leader, 0);
  ASSERT_GT(escaped, 0);
  std::optional<uint64_t> start_time = internal::ReadStartTime(leader);
  ASSERT_TRUE(start_time.has_value());

  v1::JobSpec job = Job({"true"});
  CollectingSink sink;
  Done done;
  Executor::ReattachParams params;
  params.start = Params(job, &sink, &done, id);
  params.attempt.set_external_id(absl::StrCat(leader, ":", *start_time));
  EXPECT_THAT(executor_->Reattach(std::move(params)),
              StatusIs(absl::StatusCode::kNotFound, "did not survive the engine restart"));
  ASSERT_TRUE(WaitForExit(leader));
  ASSERT_TRUE(WaitForExit(escaped));
  int status = Reap(leader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  status = Reap(escaped);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(done.calls.load(), 0);
}

// The start time in the external id is the kernel's, as /proc shows it,
// whether it came from the spawn's timing or from /proc itself.
TEST_F(LocalExecutorTest, ExternalIdHoldsTheKernelsStartTime) {
  v1::JobSpec job = Job({"sleep", "5"});
  for (int i = 0; i < 40; ++i) {
    CollectingSink sink;
    Done done;
    auto handle = executor_->Start(Params(job, &sink, &done));
    ASSERT_TRUE(handle.ok()) << handle.status();
    std::vector<std::string> parts = absl::StrSplit((*handle)->external_id(), ':');
    ASSERT_EQ(parts.size(), 2u) << (*handle)->external_id();
    pid_t pid = 0;
    uint64_t ticks = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &pid));
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &ticks));
    EXPECT_EQ(internal::ReadStartTime(pid), ticks) << "spawn " << i;
    (*handle)->Cancel(absl::ZeroDuration());
    ASSERT_TRUE(done.Wait());
  }
}

// Computed from two readings of CLOCK_BOOTTIME around the spawn: only when
// both fall in one tick.
TEST(StartTicksTest, KnownOnlyWhenBothReadingsShareATick) {
  const int64_t ns_per_tick = 1'000'000'000 / sysconf(_SC_CLK_TCK);
  EXPECT_EQ(internal::StartTicksBetween(5 * ns_per_tick, 5 * ns_per_tick + 1), 5u);
  EXPECT_EQ(internal::StartTicksBetween(5 * ns_per_tick, 6 * ns_per_tick - 1), 5u);
  EXPECT_EQ(internal::StartTicksBetween(6 * ns_per_tick - 1, 6 * ns_per_tick), std::nullopt);
  EXPECT_EQ(internal::StartTicksBetween(7 * ns_per_tick, 6 * ns_per_tick), std::nullopt);
  EXPECT_EQ(internal::StartTicksBetween(-1, 0), std::nullopt);
  // A process created between the two readings has the tick /proc reports
  // for it: fork until one fork fits in a tick (nearly every one does), and
  // compare every fork with /proc.
  int computed = 0;
  for (int i = 0; i < 50 && computed < 5; ++i) {
    int64_t before = internal::BootTimeNs();
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int64_t after = internal::BootTimeNs();
    ASSERT_GT(pid, 0);
    std::optional<uint64_t> from_proc = internal::ReadStartTime(pid);
    waitpid(pid, nullptr, 0);
    ASSERT_TRUE(from_proc.has_value());
    EXPECT_GE(*from_proc, static_cast<uint64_t>(before / ns_per_tick));
    EXPECT_LE(*from_proc, static_cast<uint64_t>(after / ns_per_tick));
    if (auto ticks = internal::StartTicksBetween(before, after); ticks.has_value()) {
      EXPECT_EQ(*ticks, *from_proc);
      ++computed;
    }
  }
  EXPECT_GT(computed, 0) << "no fork fitted in one clock tick";
}

TEST_F(LocalExecutorTest, ReattachDoesNotKillAReusedPid) {
  pid_t stranger = SpawnLeftover({"X=1"});
  ASSERT_GT(stranger, 0);
  v1::JobSpec job = Job({"true"});
  CollectingSink sink;
  Done done;
  Executor::ReattachParams params;
  params.start = Params(job, &sink, &done);
  params.attempt.set_external_id(absl::StrCat(stranger, ":1"));  // Wrong start time.
  EXPECT_THAT(executor_->Reattach(std::move(params)),
              StatusIs(absl::StatusCode::kNotFound, ""));
  EXPECT_FALSE(WaitForExit(stranger, absl::Milliseconds(200)));
  kill(stranger, SIGKILL);
  Reap(stranger);
}

TEST_F(LocalExecutorTest, CleanupOrphansKillsOnlyTaggedNonLive) {
  std::string tag = absl::StrCat("cleanup-tag-", getpid());
  auto executor = MakeLocalExecutor({.engine_tag = tag});
  std::string live_id = NewId(), orphan_id = NewId(), other_id = NewId();
  pid_t live = SpawnLeftover({"AUTOMATE_ENGINE_TAG=" + tag, "AUTOMATE_EXECUTION_ID=" + live_id});
  pid_t orphan =
      SpawnLeftover({"AUTOMATE_ENGINE_TAG=" + tag, "AUTOMATE_EXECUTION_ID=" + orphan_id});
  pid_t other = SpawnLeftover(
      {"AUTOMATE_ENGINE_TAG=" + tag + "-other", "AUTOMATE_EXECUTION_ID=" + other_id});
  ASSERT_GT(live, 0);
  ASSERT_GT(orphan, 0);
  ASSERT_GT(other, 0);
  AUTOMATE_EXPECT_OK(executor->CleanupOrphans({live_id}));
  EXPECT_TRUE(WaitForExit(orphan));
  EXPECT_FALSE(WaitForExit(live, absl::Milliseconds(200)));
  EXPECT_FALSE(WaitForExit(other, absl::Milliseconds(1)));
  for (pid_t pid : {live, other}) kill(pid, SIGKILL);
  for (pid_t pid : {live, orphan, other}) Reap(pid);
}

TEST_F(LocalExecutorTest, SpawnThroughput) {
  constexpr int kCount = 1000;
  std::vector<std::unique_ptr<Done>> dones;
  CollectingSink sink;
  v1::JobSpec job = Job({"true"});
  absl::Time start = absl::Now();
  for (int i = 0; i < kCount; ++i) {
    dones.push_back(std::make_unique<Done>());
    ASSERT_TRUE(executor_->Start(Params(job, &sink, dones.back().get())).ok());
  }
  absl::Duration started = absl::Now() - start;
  for (auto& done : dones) ASSERT_TRUE(done->Wait());
  absl::Duration finished = absl::Now() - start;
  std::cout << kCount << " spawns of /bin/true: Start() " << kCount / absl::ToDoubleSeconds(started)
            << "/s, completed " << kCount / absl::ToDoubleSeconds(finished) << "/s\n";
}

}  // namespace
}  // namespace automate
