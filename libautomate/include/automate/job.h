// Job files and job specs: parsing, validation and argument resolution.
//
// A job file is YAML or JSON with one job per document (`---` between them).
// Every error names the file, the line (when YAML gives one), the field path
// and the problem: `jobs.yaml:12: params[1].name: must match [A-Za-z_][A-Za-z0-9_]*`.
// Unknown fields are errors. docs/job-file.md is the reference.
//
// Example:
//   absl::StatusOr<std::vector<v1::JobSpec>> jobs =
//       automate::LoadJobFile("examples/jobs/hello.yaml");
//
// Thread-safety: all functions are pure and thread-safe.
#ifndef AUTOMATE_JOB_H_
#define AUTOMATE_JOB_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/export.h"
#include "automate/v1/job.pb.h"

namespace automate {

// Parses `content` as a job file. `filename` only names it in errors.
// kInvalidArgument on any error.
AUTOMATE_EXPORT absl::StatusOr<std::vector<v1::JobSpec>> ParseJobFile(
    absl::string_view content, absl::string_view filename);

// Reads and parses a file ("-" reads standard input). kNotFound if missing.
AUTOMATE_EXPORT absl::StatusOr<std::vector<v1::JobSpec>> LoadJobFile(const std::string& path);

// Checks a spec however it was made (file, API, bindings). kInvalidArgument
// with "field.path: problem". Executor-specific checks are the executor's.
AUTOMATE_EXPORT absl::Status ValidateJobSpec(const v1::JobSpec& spec);

// Checks `args` against the job's params and applies defaults: unknown names,
// missing required params and pattern mismatches are kInvalidArgument naming
// the param. Returns the complete argument map.
AUTOMATE_EXPORT absl::StatusOr<std::map<std::string, std::string>> ResolveArgs(
    const v1::JobSpec& spec, const std::map<std::string, std::string>& args);

// "90s", "2h", "1h30m", "500ms". kInvalidArgument.
AUTOMATE_EXPORT absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);
// "100Mi", "1G", "512k", "4096". kInvalidArgument.
AUTOMATE_EXPORT absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// The spec as a job file document (round-trips through ParseJobFile).
AUTOMATE_EXPORT std::string JobSpecToYaml(const v1::JobSpec& spec);

}  // namespace automate

#endif  // AUTOMATE_JOB_H_
