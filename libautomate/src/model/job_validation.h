// The rules of a valid JobSpec, shared by ValidateJobSpec (which reports them
// as one Status) and the job file parser (which adds file lines to them).
#ifndef AUTOMATE_MODEL_JOB_VALIDATION_H_
#define AUTOMATE_MODEL_JOB_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "automate/v1/job.pb.h"
#include "model/field_error.h"

namespace automate::internal {

// Every rule `spec` breaks, in field order. Empty when the spec is valid.
std::vector<FieldError> CheckJobSpec(const v1::JobSpec& spec);

// Whether `value` as a whole matches `pattern`, an ECMAScript regular
// expression (std::regex). kInvalidArgument if the pattern does not compile
// or is too complex to match.
absl::StatusOr<bool> PatternMatches(absl::string_view pattern, absl::string_view value);

// 1-63 characters of [a-z0-9._-]: auth group names (job allowed_groups,
// token groups).
bool IsGroupName(absl::string_view name);

// [A-Za-z_][A-Za-z0-9_]*: param, secret and environment variable names.
bool IsEnvName(absl::string_view name);
inline constexpr char kEnvNameRule[] = "must match [A-Za-z_][A-Za-z0-9_]*";

}  // namespace automate::internal

#endif  // AUTOMATE_MODEL_JOB_VALIDATION_H_
