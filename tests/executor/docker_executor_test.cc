// The docker executor against a real Docker Engine API: Podman's service
// (tests/docker/podman-service.sh; DOCKER_HOST names it). Every test runs
// real containers of localhost/busybox:latest with network none, through a
// real engine on a temporary state dir.
//
// Without a reachable daemon the tests skip, loudly; under CI (CI=true) they
// fail instead.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "automate/automate.h"
#include "engine/engine_fixture.h"
#include "executor/docker/docker_api.h"
#include "executor/docker/docker_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;
using automate_testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kImage[] = "localhost/busybox:latest";

internal::DockerApi Api() {
  absl::StatusOr<internal::HttpTransportOptions> t =
      internal::DockerTransportOptions(DockerOptionsFromEnvironment({}));
  return internal::DockerApi(t.ok() ? *t : internal::HttpTransportOptions{}, "1.41");
}

// Why the daemon cannot be used, or "".
std::string DaemonProblem() {
  if (std::getenv("DOCKER_HOST") == nullptr) {
    return "DOCKER_HOST is not set; start tests/docker/podman-service.sh and export what it prints";
  }
  internal::DockerApi api = Api();
  absl::StatusOr<std::string> version = api.CheckVersion();
  if (!version.ok()) return std::string(version.status().message());
  absl::StatusOr<bool> image = api.ImageExists(kImage);
  if (!image.ok()) return std::string(image.status().message());
  if (!*image) return absl::StrCat("the daemon has no image ", kImage, " (see tests/docker)");
  return "";
}

#define REQUIRE_DAEMON()                                                                  \
  do {                                                                                    \
    static const std::string problem = DaemonProblem();                                   \
    if (!problem.empty()) {                                                               \
      if (automate_testing::UnderCi()) FAIL() << "DOCKER DAEMON UNAVAILABLE: " << problem; \
      GTEST_SKIP() << "DOCKER DAEMON UNAVAILABLE: " << problem;                           \
    }                                                                                     \
  } while (0)

std::string DockerJob(const std::string& name, const std::string& script,
                      const std::string& extra = "") {
  return absl::StrCat("name: ", name, "\nexecutor:\n  docker:\n    image: ", kImage,
                      "\n    network: none\n    pull: never\n    command: ['/bin/sh', '-c', '",
                      script, "']\n", extra);
}

// Containers of this engine's executions (by label), as the daemon lists them.
std::vector<internal::ContainerSummary> ContainersOf(const std::string& execution_id) {
  absl::StatusOr<std::vector<internal::ContainerSummary>> list =
      Api().List(absl::StrCat("automate.execution=", execution_id), absl::Seconds(10));
  EXPECT_TRUE(list.ok()) << list.status();
  return list.ok() ? *list : std::vector<internal::ContainerSummary>{};
}

class DockerExecutorTest : public automate_testing::EngineTest {
 protected:
  void SetUp() override {
    REQUIRE_DAEMON();
    OpenEngine(/*max_running=*/24, /*grace=*/absl::Seconds(1));
  }
  std::string Stream(const std::string& id, v1::LogStream stream) {
    std::vector<LogChunk> chunks;
    ReadLog(id, &chunks);
    std::string out;
    for (const LogChunk& c : chunks) {
      if (c.stream == stream) out += c.data;
    }
    return out;
  }
};

TEST_F(DockerExecutorTest, SucceedsWithParamsSecretsAndEnvironment) {
  ASSERT_TRUE(engine_->SetSecret("API_TOKEN", "tok-5f1e9c2a").ok());
  Apply(DockerJob("ok",
                  "echo \"hello $WHO in $PWD as $(id -u) mode=$MODE\"; "
                  "echo \"token=$API_TOKEN id=$AUTOMATE_EXECUTION_ID\"",
                  "    working_dir: /srv\n    user: '1000:1000'\n    env: {MODE: fast}\n"
                  "params: [{name: WHO, default: world}]\nsecrets: [API_TOKEN]\n"));
  v1::Execution exec = RunAndWait("ok", {{"WHO", "team"}});
  EXPECT_EQ(exec.state(), v1::SUCCEEDED) << exec.DebugString();
  EXPECT_EQ(exec.exit_code(), 0);
  const std::string out = Stream(exec.id(), v1::STDOUT);
  EXPECT_THAT(out, HasSubstr("hello team in /srv as 1000 mode=fast\n"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("token=**** id=", exec.id(), "\n")));
  EXPECT_THAT(ReadLog(exec.id()), Not(HasSubstr("tok-5f1e9c2a")));
  ASSERT_EQ(exec.attempts_size(), 1);
  EXPECT_EQ(exec.attempts(0).executor(), "docker");
  EXPECT_EQ(exec.attempts(0).external_id(), internal::ContainerName(exec.id(), 1));
  EXPECT_TRUE(ContainersOf(exec.id()).empty()) << "the container was not removed";
}

TEST_F(DockerExecutorTest, NonZeroExitFailsAndSeparatesStreams) {
  Apply(DockerJob("fails", "echo to-out; echo to-err >&2; echo more-out; exit 3",
                  "retry: {max_attempts: 2, initial_backoff: 100ms}\n"));
  v1::Execution exec = RunAndWait("fails");
  EXPECT_EQ(exec.state(), v1::FAILED);
  EXPECT_EQ(exec.exit_code(), 3);
  EXPECT_EQ(exec.attempts_size(), 2) << "a non-zero exit is retried per the job's policy";
  EXPECT_EQ(Stream(exec.id(), v1::STDOUT), "to-out\nmore-out\nto-out\nmore-out\n");
  EXPECT_EQ(Stream(exec.id(), v1::STDERR), "to-err\nto-err\n");
  EXPECT_TRUE(ContainersOf(exec.id()).empty());
}

TEST_F(DockerExecutorTest, FiftyMegabytesOfLogArriveIntact) {
  // 50,000,000 bytes: 2,500,000 lines of 20 bytes, numbered so that a lost,
  // repeated or reordered line shows.
  Apply(DockerJob("big", "seq -w 1 2500000 | sed s/^/abcdefghijkl/",
                  "log_limit: {bytes: 60Mi}\ntimeout: 5m\n"));
  v1::Execution exec = RunAndWait("big");
  ASSERT_EQ(exec.state(), v1::SUCCEEDED) << exec.DebugString();
  const std::string out = Stream(exec.id(), v1::STDOUT);
  ASSERT_EQ(out.size(), 50000000u);
  char expect[32];
  for (int i = 1; i <= 2500000; i += 1) {
    std::snprintf(expect, sizeof expect, "abcdefghijkl%07d\n", i);
    if (out.compare(static_cast<size_t>(i - 1) * 20, 20, expect) != 0) {
      ADD_FAILURE() << "line " << i << " is \"" << out.substr(static_cast<size_t>(i - 1) * 20, 20) << "\"";
      break;
    }
  }
}

TEST_F(DockerExecutorTest, TimeoutStopsAndRemovesTheContainer) {
  // sleep as PID 1 ignores SIGTERM: the grace period ends in SIGKILL.
  Apply(DockerJob("slow", "exec sleep 60", "timeout: 2s\n"));
  const absl::Time start = absl::Now();
  v1::Execution exec = RunAndWait("slow");
  EXPECT_EQ(exec.state(), v1::TIMED_OUT) << exec.DebugString();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_TRUE(ContainersOf(exec.id()).empty());
}

TEST_F(DockerExecutorTest, CancelSendsSigtermThenRemoves) {
  Apply(DockerJob("loop",
                  "trap \"echo got TERM; exit 143\" TERM; echo started; "
                  "while true; do sleep 0.1; done"));
  SubmitRequest request;
  request.job = "loop";
  absl::StatusOr<v1::Execution> exec = engine_->Submit(request);
  ASSERT_TRUE(exec.ok()) << exec.status();
  // Cancel once it runs and has printed.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline && Stream(exec->id(), v1::STDOUT).find("started") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(engine_->Cancel(exec->id()).ok());
  absl::StatusOr<v1::Execution> done = engine_->Wait(exec->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::CANCELLED);
  EXPECT_THAT(Stream(exec->id(), v1::STDOUT), HasSubstr("got TERM\n")) << ReadLog(exec->id()) << done->DebugString();
  EXPECT_TRUE(ContainersOf(exec->id()).empty());
}

TEST_F(DockerExecutorTest, MissingImageWithPullNeverFailsWithoutRetry) {
  Apply(absl::StrCat(
      "name: noimage\nexecutor:\n  docker:\n    image: localhost/does-not-exist:1\n"
      "    network: none\n    pull: never\nretry: {max_attempts: 3, initial_backoff: 100ms}\n"));
  v1::Execution exec = RunAndWait("noimage");
  EXPECT_EQ(exec.state(), v1::FAILED);
  ASSERT_EQ(exec.attempts_size(), 1) << "a missing image is not retried";
  EXPECT_FALSE(exec.attempts(0).retryable());
  EXPECT_THAT(exec.attempts(0).error(),
              HasSubstr("image localhost/does-not-exist:1 is not present"));
  EXPECT_THAT(exec.attempts(0).error(), HasSubstr("pull policy is never"));
}

TEST_F(DockerExecutorTest, CommandNotFoundFailsWithoutRetry) {
  Apply(absl::StrCat("name: nocmd\nexecutor:\n  docker:\n    image: ", kImage,
                     "\n    network: none\n    command: [/nonexistent]\n"
                     "retry: {max_attempts: 3, initial_backoff: 100ms}\n"));
  v1::Execution exec = RunAndWait("nocmd");
  EXPECT_EQ(exec.state(), v1::FAILED);
  ASSERT_EQ(exec.attempts_size(), 1);
  EXPECT_THAT(exec.attempts(0).error(), HasSubstr("start container"));
  EXPECT_TRUE(ContainersOf(exec.id()).empty());
}

TEST_F(DockerExecutorTest, MountsAndKeptFailedContainers) {
  TempDir shared;
  Apply(DockerJob("keep", "echo written > /data/out.txt; exit 1",
                  absl::StrCat("    mounts: ['", shared.path(), ":/data:rw']\n",
                               "    keep_failed_containers: true\n")));
  v1::Execution exec = RunAndWait("keep");
  EXPECT_EQ(exec.state(), v1::FAILED);
  EXPECT_EQ(automate_testing::ReadFileOrDie(shared.Join("out.txt")), "written\n");
  std::vector<internal::ContainerSummary> kept = ContainersOf(exec.id());
  ASSERT_EQ(kept.size(), 1u) << "keep_failed_containers keeps the container";
  EXPECT_THAT(ReadLog(exec.id()), HasSubstr("kept container"));
  // A restarted engine's orphan cleanup leaves a kept failed container alone.
  OpenEngine(24, absl::Seconds(1));
  EXPECT_EQ(ContainersOf(exec.id()).size(), 1u);
  AUTOMATE_EXPECT_OK(Api().Remove(kept[0].id));
}

TEST_F(DockerExecutorTest, TwentyConcurrentContainers) {
  Apply(DockerJob("many", "echo \"n=$N\"; sleep 1; echo done", "params: [{name: N, required: true}]\n"));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    SubmitRequest request;
    request.job = "many";
    request.args["N"] = absl::StrCat(i);
    absl::StatusOr<v1::Execution> exec = engine_->Submit(request);
    ASSERT_TRUE(exec.ok()) << exec.status();
    ids.push_back(exec->id());
  }
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<v1::Execution> done = engine_->Wait(ids[i], absl::Now() + absl::Seconds(120));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::SUCCEEDED) << done->DebugString();
    EXPECT_EQ(Stream(ids[i], v1::STDOUT), absl::StrCat("n=", i, "\ndone\n"));
  }
}

TEST_F(DockerExecutorTest, OrphansAreRemovedOthersLeftAlone) {
  // Containers as a crashed engine of this state dir would leave them: one
  // of an execution the store does not know, one exited; and one of another
  // engine, which is not ours to touch.
  internal::DockerApi api = Api();
  auto create = [&](const std::string& name, const std::string& engine_tag) {
    std::string body = absl::StrCat(
        R"({"Image":")", kImage, R"(","Cmd":["sleep","60"],"HostConfig":{"NetworkMode":"none"},)",
        R"("Labels":{"automate.execution":"GHOST","automate.engine":")", engine_tag, R"("}})");
    api.Remove(name).IgnoreError();
    absl::StatusOr<std::string> id = api.Create(name, body);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  };
  // DefaultEngineOptions tags containers with the absolute state dir.
  const std::string ours = create("automate-test-orphan-running", dir_.path());
  AUTOMATE_ASSERT_OK(api.Start(ours));
  const std::string exited = create("automate-test-orphan-created", dir_.path());
  const std::string theirs = create("automate-test-other-engine", "/some/other/engine");
  OpenEngine(24, absl::Seconds(1));  // Cleanup runs as the engine opens.
  std::set<std::string> left;
  for (const auto& c : ContainersOf("GHOST")) left.insert(c.id);
  EXPECT_EQ(left.count(ours), 0u);
  EXPECT_EQ(left.count(exited), 0u);
  EXPECT_EQ(left.count(theirs), 1u);
  AUTOMATE_EXPECT_OK(api.Remove(theirs));
}

TEST_F(DockerExecutorTest, VersionNewerThanTheDaemonIsRefusedClearly) {
  absl::StatusOr<internal::HttpTransportOptions> t =
      internal::DockerTransportOptions(DockerOptionsFromEnvironment({}));
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> version = internal::DockerApi(*t, "1.41").CheckVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  absl::StatusOr<std::string> newer = internal::DockerApi(*t, "99.0").CheckVersion();
  EXPECT_THAT(newer.status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("speaks API ", *version,
                                    " at most; the docker API version asked for is 99.0")));
}

TEST(DockerUnreachableTest, AttemptsFailRetryablyAndSayWhy) {
  TempDir dir;
  absl::StatusOr<EngineOptions> options = DefaultEngineOptions(dir.path());
  ASSERT_TRUE(options.ok());
  DockerExecutorOptions docker;
  docker.host = absl::StrCat("unix://", dir.path(), "/no-daemon.sock");
  absl::StatusOr<std::unique_ptr<Executor>> executor = MakeDockerExecutor(docker);
  ASSERT_TRUE(executor.ok());
  options->executors.clear();
  options->executors.push_back(*std::move(executor));
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(*std::move(options));
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto specs = ParseJobFile(DockerJob("unreachable", "true",
                                      "retry: {max_attempts: 2, initial_backoff: 100ms}\n"),
                            "t.yaml");
  ASSERT_TRUE(specs.ok());
  ASSERT_TRUE((*engine)->ApplyJob((*specs)[0]).ok());
  SubmitRequest request;
  request.job = "unreachable";
  absl::StatusOr<v1::Execution> exec = (*engine)->Submit(request);
  ASSERT_TRUE(exec.ok());
  absl::StatusOr<v1::Execution> done = (*engine)->Wait(exec->id(), absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::FAILED);
  ASSERT_EQ(done->attempts_size(), 2) << "an unreachable daemon is worth a retry";
  EXPECT_TRUE(done->attempts(0).retryable());
  EXPECT_THAT(done->attempts(0).error(), HasSubstr(absl::StrCat(dir.path(), "/no-daemon.sock")));
}

// --- An engine killed with SIGKILL while its container runs -------------

constexpr int kReattachLines = 400;

std::string ReattachJob() {
  return DockerJob("survivor",
                   absl::StrCat("i=1; while [ $i -le ", kReattachLines,
                                " ]; do echo \"line $i\"; echo \"err $i\" >&2; i=$((i+1)); "
                                "sleep 0.01; done"));
}

// The child: opens the engine, submits, reports the id on stdout, and keeps
// running until it is killed.
[[noreturn]] void ChildEngine(const std::string& state_dir) {
  absl::StatusOr<EngineOptions> options = DefaultEngineOptions(state_dir);
  if (!options.ok()) std::_Exit(3);
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(*std::move(options));
  if (!engine.ok()) std::_Exit(4);
  auto specs = ParseJobFile(ReattachJob(), "t.yaml");
  if (!specs.ok() || !(*engine)->ApplyJob((*specs)[0]).ok()) std::_Exit(5);
  SubmitRequest request;
  request.job = "survivor";
  absl::StatusOr<v1::Execution> exec = (*engine)->Submit(request);
  if (!exec.ok()) std::_Exit(6);
  std::printf("%s\n", exec->id().c_str());
  std::fflush(stdout);
  while (true) pause();
}

class DockerReattachTest : public DockerExecutorTest {
 protected:
  // Starts an engine in a child process, lets it store part of the job's
  // output, SIGKILLs it, waits `downtime`, then reopens the engine here and
  // checks that the whole output is stored exactly once.
  void KillAndReattach(absl::Duration downtime);
};

TEST_F(DockerReattachTest, EngineKilledMidRunReattachesWithoutLostOrRepeatedLines) {
  KillAndReattach(absl::Milliseconds(500));
}

TEST_F(DockerReattachTest, ContainerThatEndedWhileNoEngineRanIsReconciled) {
  // The job prints for about 4 s; the engine is away for longer.
  KillAndReattach(absl::Seconds(8));
}

void DockerReattachTest::KillAndReattach(absl::Duration downtime) {
  engine_.reset();  // The child owns the state dir until it dies.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    execl("/proc/self/exe", "docker_executor_test", "--child-engine", dir_.path().c_str(),
          static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  close(out[1]);
  char buf[128] = {0};
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  ASSERT_GT(n, 0) << "the child engine did not report an execution";
  const std::string id(absl::StripAsciiWhitespace(buf));
  // Kill it mid-run: once some but not all lines are stored.
  absl::StatusOr<std::unique_ptr<LogStore>> logs = OpenFileLogStore(dir_.path() + "/logs");
  ASSERT_TRUE(logs.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  int64_t stored = 0;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::unique_ptr<LogFileReader>> reader = (*logs)->OpenReader(id);
    std::vector<LogChunk> chunks;
    if (reader.ok() && (*reader)->ReadAt(0, 1 << 20, &chunks).ok()) {
      stored = 0;
      for (const LogChunk& c : chunks) stored += static_cast<int64_t>(c.data.size());
    }
    if (stored > 1500) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GT(stored, 1500) << "the container's output never reached the log";
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Lines are printed while no engine watches (all of them, for a long downtime).
  absl::SleepFor(downtime);
  OpenEngine(24, absl::Seconds(1));
  absl::StatusOr<v1::Execution> done = engine_->Wait(id, absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED) << done->DebugString();
  EXPECT_EQ(done->attempts_size(), 1) << "reattached, not retried";
  std::string want_out, want_err;
  for (int i = 1; i <= kReattachLines; ++i) {
    absl::StrAppend(&want_out, "line ", i, "\n");
    absl::StrAppend(&want_err, "err ", i, "\n");
  }
  EXPECT_EQ(Stream(id, v1::STDOUT), want_out);
  EXPECT_EQ(Stream(id, v1::STDERR), want_err);
  EXPECT_TRUE(ContainersOf(id).empty());
}

}  // namespace
}  // namespace automate

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--child-engine") automate::ChildEngine(argv[2]);
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
