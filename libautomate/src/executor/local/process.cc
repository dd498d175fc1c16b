#include "executor/local/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace automate::internal {
namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

absl::Status ErrnoStatus(int err, absl::string_view context) {
  std::string message = absl::StrCat(context, ": ", strerror(err));
  switch (err) {
    case EAGAIN:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::UnavailableError(message);
    default:
      return absl::FailedPreconditionError(message);
  }
}

// posix_spawn reports a failed chdir and a failed exec the same way (as the
// errno of the child); look again to tell the user which one it was.
absl::Status DiagnoseSpawnError(int err, const SpawnRequest& request, const std::string& exe) {
  if (!request.working_dir.empty()) {
    struct stat st;
    int dir_err = 0;
    if (stat(request.working_dir.c_str(), &st) != 0) {
      dir_err = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      dir_err = ENOTDIR;
    } else if (access(request.working_dir.c_str(), X_OK) != 0) {
      dir_err = errno;
    }
    if (dir_err != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("local: working_dir ", request.working_dir, ": ", strerror(dir_err)));
    }
  }
  return ErrnoStatus(err, absl::StrCat("local: cannot execute \"", exe, "\""));
}

// Pipes whose write ends go to the child as fd 1 and 2. O_CLOEXEC on all
// ends: the dup2 in the child clears it on the copies it makes. Our read end
// is non-blocking (an observer loop reads many pipes); the child's write end
// stays blocking, as programs expect of their stdout.
absl::Status MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "local: pipe");
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return ErrnoStatus(err, "local: pipe");
  }
  *read_end = UniqueFd(fds[0]);
  *write_end = UniqueFd(fds[1]);
  return absl::OkStatus();
}

void SetUpFileActions(posix_spawn_file_actions_t* actions, const SpawnRequest& request,
                      int stdout_w, int stderr_w) {
  posix_spawn_file_actions_init(actions);
  posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions, stdout_w, 1);
  posix_spawn_file_actions_adddup2(actions, stderr_w, 2);
  // Descriptors the engine opened without O_CLOEXEC must not leak into jobs.
  posix_spawn_file_actions_addclosefrom_np(actions, 3);
  if (!request.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(actions, request.working_dir.c_str());
  }
}

void SetUpAttributes(posix_spawnattr_t* attr) {
  posix_spawnattr_init(attr);
  posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                     POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attr, 0);  // A new group, with pgid = pid.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(attr, &none);
  // Ignored signals are inherited through exec; the engine may ignore
  // SIGPIPE, SIGINT or SIGTERM, but jobs must start with the defaults.
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(attr, &all);
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<std::string> ResolveCommand(absl::string_view command, absl::string_view path,
                                           absl::string_view working_dir) {
  if (command.find('/') != absl::string_view::npos) return std::string(command);
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) dir = ".";  // As in execvp: an empty entry is the cwd.
    std::string candidate = absl::StrCat(dir, "/", command);
    std::string checked = candidate;
    if (candidate[0] != '/' && !working_dir.empty()) {
      checked = absl::StrCat(working_dir, "/", candidate);
    }
    if (IsExecutableFile(checked)) return candidate;
  }
  // The PATH value is not shown: it comes from the job's environment, which
  // may hold secrets.
  return absl::FailedPreconditionError(
      absl::StrCat("local: command \"", command, "\" not found in the job's PATH"));
}

int64_t BootTimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The kernel stamps a new task with CLOCK_BOOTTIME (start_boottime) in
// copy_process() and /proc shows it divided into USER_HZ ticks; a process
// created between the two readings has the one tick they share.
std::optional<uint64_t> StartTicksBetween(int64_t before_ns, int64_t after_ns) {
  static const int64_t ns_per_tick = 1'000'000'000 / sysconf(_SC_CLK_TCK);
  if (before_ns < 0 || after_ns < before_ns || ns_per_tick <= 0) return std::nullopt;
  if (before_ns / ns_per_tick != after_ns / ns_per_tick) return std::nullopt;
  return static_cast<uint64_t>(before_ns / ns_per_tick);
}

namespace {
struct Resolved {
  std::string exe;
  absl::Time stored;
};
absl::Mutex resolved_mu(absl::kConstInit);
auto* const resolved ABSL_GUARDED_BY(resolved_mu) =
    new absl::flat_hash_map<std::string, Resolved>();
}  // namespace

absl::StatusOr<std::string> ResolveCommandCached(absl::string_view command, absl::string_view path,
                                                 absl::string_view working_dir, absl::Time now,
                                                 absl::Duration ttl) {
  if (command.find('/') != absl::string_view::npos) return std::string(command);
  std::string key = absl::StrCat(command, std::string(1, '\0'), path, std::string(1, '\0'),
                                 working_dir);
  {
    absl::MutexLock lock(&resolved_mu);
    auto it = resolved->find(key);
    if (it != resolved->end() && it->second.stored <= now && now < it->second.stored + ttl) {
      return it->second.exe;
    }
  }
  absl::StatusOr<std::string> exe = ResolveCommand(command, path, working_dir);
  if (exe.ok()) {
    absl::MutexLock lock(&resolved_mu);
    if (resolved->size() >= 1024) resolved->clear();  // Bounded: many distinct PATHs.
    (*resolved)[key] = Resolved{*exe, now};
  }
  return exe;
}

absl::StatusOr<SpawnedProcess> SpawnProcess(const SpawnRequest& request) {
  if (request.argv.empty()) return absl::InvalidArgumentError("local: empty command");
  absl::StatusOr<std::string> exe =
      ResolveCommandCached(request.argv[0], request.path, request.working_dir, absl::Now());
  if (!exe.ok()) return exe.status();
  SpawnedProcess process;
  UniqueFd stdout_w, stderr_w;
  if (absl::Status s = MakePipe(&process.stdout_fd, &stdout_w); !s.ok()) return s;
  if (absl::Status s = MakePipe(&process.stderr_fd, &stderr_w); !s.ok()) return s;

  posix_spawn_file_actions_t actions;
  SetUpFileActions(&actions, request, stdout_w.get(), stderr_w.get());
  posix_spawnattr_t attr;
  SetUpAttributes(&attr);
  absl::Cleanup destroy = [&] {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  };
  std::vector<char*> argv = CStrings(request.argv);
  std::vector<char*> envp = CStrings(request.env);
  process.start_time = (request.clock != nullptr ? request.clock : Clock::Real())->Now();
  int64_t before_ns = BootTimeNs();
  int err = posix_spawn(&process.pid, exe->c_str(), &actions, &attr, argv.data(), envp.data());
  if (err != 0) return DiagnoseSpawnError(err, request, *exe);
  process.start_ticks = StartTicksBetween(before_ns, BootTimeNs());

  // The child exists and is not reaped, so its pid cannot be reused before
  // pidfd_open (glibc 2.36 has no wrapper for it).
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, process.pid, 0));
  if (pidfd < 0) {
    int open_err = errno;
    SignalGroup(process.pid, SIGKILL);
    waitpid(process.pid, nullptr, 0);
    return ErrnoStatus(open_err, "local: pidfd_open");
  }
  process.pidfd = UniqueFd(pidfd);
  return process;
}

void SignalGroup(pid_t pgid, int sig) {
  if (pgid > 0) kill(-pgid, sig);
}

}  // namespace automate::internal
