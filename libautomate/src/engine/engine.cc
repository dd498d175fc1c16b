#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "automate/engine.h"
#include "automate/docker_executor.h"
#include "automate/local_executor.h"
#include "engine/engine_impl.h"
#include "util/status_macros.h"

namespace automate {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("engine options: store is required");
  if (options.logs == nullptr) return absl::InvalidArgumentError("engine options: logs is required");
  if (options.clock == nullptr) return absl::InvalidArgumentError("engine options: clock is required");
  if (options.dispatch && options.executors.empty()) {
    return absl::InvalidArgumentError("engine options: at least one executor is required");
  }
  if (options.max_running < 1) {
    return absl::InvalidArgumentError("engine options: max_running must be at least 1");
  }
  if (options.write_interval < absl::ZeroDuration() || options.write_interval > absl::Seconds(1)) {
    return absl::InvalidArgumentError("engine options: write_interval must be 0 to 1s");
  }
  if (options.cancel_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("engine options: cancel_grace must not be negative");
  }
  auto engine = std::make_unique<internal::EngineImpl>(std::move(options));
  AUTOMATE_RETURN_IF_ERROR(engine->Start());
  return engine;
}

absl::StatusOr<std::optional<StateDirLock>> StateDirLock::TryAcquire(
    const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("state dir ", state_dir, ": ", ec.message()));
  }
  std::string path = state_dir + "/engine.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    return std::optional<StateDirLock>(StateDirLock(fd, std::move(path)));
  }
  int err = errno;
  ::close(fd);
  if (err == EWOULDBLOCK) return std::optional<StateDirLock>();
  return absl::InternalError(absl::StrCat("flock ", path, ": ", std::strerror(err)));
}

absl::StatusOr<StateDirLock> StateDirLock::Acquire(const std::string& state_dir,
                                                   absl::string_view advice) {
  absl::StatusOr<std::optional<StateDirLock>> lock = TryAcquire(state_dir);
  if (!lock.ok()) return lock.status();
  if (!lock->has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "another engine is running in ", state_dir, " (", state_dir,
        "/engine.lock is locked by automated, an automate.Engine, or the automate CLI's "
        "background engine, which exits when idle)",
        advice.empty() ? "" : "; ", advice));
  }
  return std::move(**lock);
}

StateDirLock::StateDirLock(StateDirLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);  // Closing the only descriptor releases the lock.
}

void StateDirLock::Release() {
  if (fd_ >= 0) ::flock(fd_, LOCK_UN);
}

bool StateDirLock::TryRetake() { return fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0; }

std::string DefaultStateDir() {
  if (const char* dir = std::getenv("AUTOMATE_STATE_DIR"); dir != nullptr && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg) {
    return std::string(xdg) + "/automate";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/automate";
}

absl::StatusOr<EngineOptions> DefaultEngineOptions(const std::string& state_dir) {
  absl::StatusOr<EngineOptions> options =
      DefaultEngineOptions(state_dir, DockerOptionsFromEnvironment(DockerExecutorOptions()));
  if (!options.ok()) return NameDockerSetting(options.status(), "DOCKER_HOST", "DOCKER_API_VERSION");
  return options;
}

absl::StatusOr<EngineOptions> DefaultEngineOptions(const std::string& state_dir,
                                                   DockerExecutorOptions docker) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("state dir ", state_dir, ": ", ec.message()));
  }
  ::chmod(state_dir.c_str(), 0700);  // Logs and the secret key live here.
  std::string absolute = std::filesystem::absolute(state_dir, ec).lexically_normal().string();
  if (docker.engine_tag.empty()) docker.engine_tag = absolute;
  // First, so that a bad docker setting is reported before anything opens.
  AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<Executor> docker_executor,
                            MakeDockerExecutor(std::move(docker)));
  EngineOptions options;
  SqliteStoreOptions store_options;
  store_options.path = absolute + "/automate.db";
  AUTOMATE_ASSIGN_OR_RETURN(options.store, OpenSqliteStore(store_options));
  AUTOMATE_ASSIGN_OR_RETURN(options.logs, OpenFileLogStore(absolute + "/logs"));
  options.start_journal = absolute + "/starts.journal";
  LocalExecutorOptions local;
  local.engine_tag = absolute;
  options.executors.push_back(MakeLocalExecutor(local));
  options.executors.push_back(std::move(docker_executor));
  return options;
}

}  // namespace automate
