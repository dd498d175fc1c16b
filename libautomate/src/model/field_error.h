// One problem found in a job spec, located by its field path
// ("params[1].name") and, when it came from a file, by its line.
#ifndef AUTOMATE_MODEL_FIELD_ERROR_H_
#define AUTOMATE_MODEL_FIELD_ERROR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace automate::internal {

struct FieldError {
  std::string path;     // "" for the job document itself
  std::string message;  // lower-case, no trailing period
  int line = 0;         // 1-based; 0 when unknown
};

// "path: message", or just "message" when the path is empty.
std::string FormatFieldError(const FieldError& error);

// "file:line: path: message"; "file: path: message" when the line is unknown.
std::string FormatFileError(absl::string_view filename, const FieldError& error);

// A map key as it appears in a path: labels["app.kubernetes.io/name"].
std::string KeyPath(absl::string_view parent, absl::string_view key);

// True if `a` is `b`, or one of them is a field inside the other
// ("retry" and "retry.max_backoff", "params[1]" and "params[1].name").
bool PathsOverlap(absl::string_view a, absl::string_view b);

}  // namespace automate::internal

#endif  // AUTOMATE_MODEL_FIELD_ERROR_H_
