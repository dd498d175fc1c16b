// Reading /proc: the start time of a process (to tell a pid from a reused
// one) and the environment of processes (to find what automate started,
// since every child carries AUTOMATE_EXECUTION_ID and AUTOMATE_ENGINE_TAG).
//
// Linux only. All functions are thread-safe and never fail loudly: a process
// that vanishes mid-read is simply skipped.
#ifndef AUTOMATE_EXECUTOR_LOCAL_PROC_SCAN_H_
#define AUTOMATE_EXECUTOR_LOCAL_PROC_SCAN_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace automate::internal {

// Field 22 of /proc/<pid>/stat (clock ticks after boot), or nullopt if the
// process does not exist. Together with the pid it names a process uniquely.
std::optional<uint64_t> ReadStartTime(pid_t pid);

// The value of `name` in a NUL-separated environ block, or nullopt.
std::optional<absl::string_view> FindEnvVar(absl::string_view environ_block,
                                            absl::string_view name);

// Calls `match(pid, environ_block)` for every process of our effective uid
// except this process, and returns the pids for which it returned true.
// Costs a read of /proc/<pid>/environ per process: call it only on rare
// paths (cancel, restart), never per spawn.
std::vector<pid_t> ScanProcesses(
    const std::function<bool(pid_t, absl::string_view)>& match);

// Sends `sig` to `pid` and, when `pid` leads a process group other than
// ours, to that group too (its members may have dropped the env markers).
void SignalProcessAndGroup(pid_t pid, int sig);

// Sends `sig` to every process (and its group) whose environment has
// AUTOMATE_EXECUTION_ID equal to one of `execution_ids`. With SIGKILL it scans
// again, so that children forked during a scan are caught too. Returns the
// number of processes signalled in the first pass.
int SignalByExecutionId(const std::vector<std::string>& execution_ids, int sig);

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_LOCAL_PROC_SCAN_H_
