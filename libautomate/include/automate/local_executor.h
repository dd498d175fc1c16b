// The local process executor: runs each attempt as a child process of the
// engine, in a new process group, with stdout and stderr captured separately.
// Cancellation and timeouts signal the whole group: SIGTERM, then SIGKILL
// after the grace period, so grandchildren go too.
//
// Thread-safety: thread-safe.
#ifndef AUTOMATE_LOCAL_EXECUTOR_H_
#define AUTOMATE_LOCAL_EXECUTOR_H_

#include <memory>
#include <string>

#include "automate/executor.h"
#include "automate/export.h"
#include "automate/log.h"

namespace automate {

struct LocalExecutorOptions {
  // Tag written into every child's environment as AUTOMATE_ENGINE_TAG, so a
  // restarted engine can find and stop processes its predecessor left.
  std::string engine_tag;
};

AUTOMATE_EXPORT std::unique_ptr<Executor> MakeLocalExecutor(LocalExecutorOptions options = {});

}  // namespace automate

#endif  // AUTOMATE_LOCAL_EXECUTOR_H_
