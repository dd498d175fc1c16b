#include "executor/local/proc_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace automate::internal {
namespace {

// Reads a whole (small, virtual) file; nullopt if it cannot be opened.
std::optional<std::string> ReadProcFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::vector<pid_t> ListPids() {
  std::vector<pid_t> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  while (struct dirent* entry = readdir(dir)) {
    int pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

bool OwnedByUs(pid_t pid) {
  struct stat st;
  if (stat(absl::StrCat("/proc/", pid).c_str(), &st) != 0) return false;
  return st.st_uid == geteuid();
}

}  // namespace

std::optional<uint64_t> ReadStartTime(pid_t pid) {
  std::optional<std::string> stat = ReadProcFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.has_value()) return std::nullopt;
  // Field 2 (comm) may hold spaces and parentheses; it ends at the last ')'.
  size_t close_paren = stat->rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close_paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 is fields[19].
  uint64_t start_time = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start_time)) return std::nullopt;
  return start_time;
}

std::optional<absl::string_view> FindEnvVar(absl::string_view environ_block,
                                            absl::string_view name) {
  for (absl::string_view entry : absl::StrSplit(environ_block, '\0')) {
    if (entry.size() > name.size() && entry[name.size()] == '=' &&
        entry.substr(0, name.size()) == name) {
      return entry.substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

std::vector<pid_t> ScanProcesses(
    const std::function<bool(pid_t, absl::string_view)>& match) {
  std::vector<pid_t> matched;
  const pid_t self = getpid();
  for (pid_t pid : ListPids()) {
    if (pid == self || !OwnedByUs(pid)) continue;
    std::optional<std::string> env = ReadProcFile(absl::StrCat("/proc/", pid, "/environ"));
    // Zombies and kernel threads have an empty environ: nothing to match.
    if (!env.has_value() || env->empty()) continue;
    if (match(pid, *env)) matched.push_back(pid);
  }
  return matched;
}

void SignalProcessAndGroup(pid_t pid, int sig) {
  if (pid <= 0) return;
  pid_t pgid = getpgid(pid);
  if (pgid == pid && pgid != getpgrp()) kill(-pgid, sig);
  kill(pid, sig);
}

int SignalByExecutionId(const std::vector<std::string>& execution_ids, int sig) {
  auto match = [&execution_ids](pid_t, absl::string_view env) {
    std::optional<absl::string_view> id = FindEnvVar(env, "AUTOMATE_EXECUTION_ID");
    return id.has_value() &&
           std::find(execution_ids.begin(), execution_ids.end(), *id) != execution_ids.end();
  };
  std::vector<pid_t> first = ScanProcesses(match);
  for (pid_t pid : first) SignalProcessAndGroup(pid, sig);
  if (sig == SIGKILL && !first.empty()) {
    // A process may have forked between our read of /proc and the kill.
    for (pid_t pid : ScanProcesses(match)) SignalProcessAndGroup(pid, sig);
  }
  return static_cast<int>(first.size());
}

}  // namespace automate::internal
