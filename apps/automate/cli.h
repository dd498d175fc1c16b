// The automate command line, as a function so that tests can call it.
#ifndef AUTOMATE_APPS_AUTOMATE_CLI_H_
#define AUTOMATE_APPS_AUTOMATE_CLI_H_

#include <ostream>

namespace automate::cli {

// Exit codes (also in README.md, "CLI reference").
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;          // Anything else (I/O, internal).
inline constexpr int kExitUsage = 2;          // Bad command-line arguments.
inline constexpr int kExitNotFound = 3;       // No such job, execution or secret.
inline constexpr int kExitInvalid = 4;        // Bad job file, bad job arguments.
inline constexpr int kExitConflict = 5;       // Wrong state: already final, limit reached.
inline constexpr int kExitWaitTimeout = 6;    // --wait-timeout passed.
// `run --wait/--follow` exit with the job's own exit code, or:
inline constexpr int kExitJobTimedOut = 124;  // The last attempt timed out.
inline constexpr int kExitJobNoCode = 125;    // Failed without an exit code.
inline constexpr int kExitJobCancelled = 130; // Cancelled.
// 128+N: the last attempt was killed by signal N.

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace automate::cli

#endif  // AUTOMATE_APPS_AUTOMATE_CLI_H_
