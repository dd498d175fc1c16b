#include "background_engine.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/engine.h"

extern char** environ;

namespace automate::cli {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// True if the store holds work no engine has admitted yet.
bool HasPendingWork(Engine& engine) {
  ExecutionFilter filter;
  filter.states = {v1::PENDING, v1::QUEUED, v1::RUNNING};
  filter.limit = 1;
  absl::StatusOr<ExecutionPage> page = engine.ListExecutions(filter);
  return page.ok() && !page->executions.empty();
}

}  // namespace

absl::Status EnsureBackgroundEngine(const std::string& state_dir, const std::string& self_exe) {
  {
    absl::StatusOr<std::optional<StateDirLock>> lock = StateDirLock::TryAcquire(state_dir);
    if (!lock.ok()) return lock.status();
    if (!lock->has_value()) return absl::OkStatus();  // An engine is running.
  }  // Released: the engine started below takes it.
  std::string log_path = state_dir + "/engine.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<std::string> args = {self_exe, "--state-dir", state_dir, "engine"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, self_exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("start background engine ", self_exe, ": ", strerror(rc)));
  }
  // Not waited for: it is a session leader of its own and outlives us; init
  // reaps it. (A short-lived CLI exits long before it does.)
  return absl::OkStatus();
}

absl::Status ServeEngine(const std::string& state_dir, absl::Duration idle_exit, int max_running) {
  absl::StatusOr<std::optional<StateDirLock>> lock = StateDirLock::TryAcquire(state_dir);
  if (!lock.ok()) return lock.status();
  if (!lock->has_value()) return absl::OkStatus();  // Another engine serves it.
  StateDirLock& held = **lock;
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);
  auto open_engine = [&]() -> absl::StatusOr<std::unique_ptr<Engine>> {
    absl::StatusOr<EngineOptions> options = DefaultEngineOptions(state_dir);
    if (!options.ok()) return options.status();
    options->poll_interval = absl::Milliseconds(20);
    options->max_running = max_running;
    return Engine::Open(std::move(*options));
  };
  absl::StatusOr<std::unique_ptr<Engine>> engine = open_engine();
  if (!engine.ok()) return engine.status();
  absl::Time idle_since = absl::Now();
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if ((*engine)->ActiveCount() > 0 || HasPendingWork(**engine)) {
      idle_since = absl::Now();
      continue;
    }
    if (idle_exit <= absl::ZeroDuration() || absl::Now() - idle_since < idle_exit) continue;
    // Stop dispatching before the lock goes: an engine that a CLI starts
    // after our release must be the only one to admit its work (else both
    // could poll the same pending execution and run it).
    (*engine)->Shutdown();
    // Then look again: a CLI that submitted before our release either sees
    // the lock free (and starts a new engine) or wrote its execution before
    // this last look (and we serve it with a new engine of our own).
    held.Release();
    if (!HasPendingWork(**engine)) break;
    if (!held.TryRetake()) break;  // A new engine took over.
    engine->reset();
    engine = open_engine();
    if (!engine.ok()) return engine.status();
    idle_since = absl::Now();
  }
  (*engine)->Shutdown();
  engine->reset();
  return absl::OkStatus();
}

}  // namespace automate::cli
