// Helpers for executions: ids, states and their names.
//
// Thread-safety: all functions are thread-safe.
#ifndef AUTOMATE_EXECUTION_H_
#define AUTOMATE_EXECUTION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/export.h"
#include "automate/v1/execution.pb.h"

namespace automate {

// A new execution id: a ULID (26 characters of Crockford base32, 48 bits of
// milliseconds then 80 random bits), so ids sort by creation time. Ids made in
// one process within one millisecond still sort in the order they were made.
AUTOMATE_EXPORT std::string NewExecutionId(absl::Time now);

// SUCCEEDED, FAILED, CANCELLED and TIMED_OUT are final.
AUTOMATE_EXPORT bool IsFinal(v1::ExecutionState state);

// "succeeded", "running", ...: the lower-case name users see.
AUTOMATE_EXPORT std::string StateName(v1::ExecutionState state);
// Inverse of StateName (case-insensitive). kInvalidArgument.
AUTOMATE_EXPORT absl::StatusOr<v1::ExecutionState> ParseStateName(absl::string_view name);

}  // namespace automate

#endif  // AUTOMATE_EXECUTION_H_
