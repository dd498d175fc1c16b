// The background engine of a state dir: one process per state dir, guarded by
// an flock on <state_dir>/engine.lock, started on demand by the CLI and
// exiting after it has been idle for a while (the task-spooler model).
#ifndef AUTOMATE_APPS_AUTOMATE_BACKGROUND_ENGINE_H_
#define AUTOMATE_APPS_AUTOMATE_BACKGROUND_ENGINE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace automate::cli {

// Starts `self_exe engine --state-dir DIR` detached unless an engine holds the
// lock already. Safe to race: a second engine finds the lock taken and exits.
absl::Status EnsureBackgroundEngine(const std::string& state_dir, const std::string& self_exe);

// Runs the dispatching engine until it has had nothing to do for `idle_exit`
// (zero: never) or SIGTERM/SIGINT arrives. Returns at once, OK, if another
// engine holds the lock.
absl::Status ServeEngine(const std::string& state_dir, absl::Duration idle_exit, int max_running);

}  // namespace automate::cli

#endif  // AUTOMATE_APPS_AUTOMATE_BACKGROUND_ENGINE_H_
