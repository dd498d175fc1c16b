// Internal helpers for absl::Status plumbing. Not installed.
#ifndef AUTOMATE_UTIL_STATUS_MACROS_H_
#define AUTOMATE_UTIL_STATUS_MACROS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

#define AUTOMATE_STATUS_CONCAT_INNER_(a, b) a##b
#define AUTOMATE_STATUS_CONCAT_(a, b) AUTOMATE_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the current function if it is not OK.
#define AUTOMATE_RETURN_IF_ERROR(expr)                 \
  do {                                                 \
    ::absl::Status automate_status_ = (expr);          \
    if (!automate_status_.ok()) return automate_status_; \
  } while (0)

// `lhs = value of expr`, or returns its error.
#define AUTOMATE_ASSIGN_OR_RETURN(lhs, expr) \
  AUTOMATE_ASSIGN_OR_RETURN_IMPL_(AUTOMATE_STATUS_CONCAT_(automate_statusor_, __LINE__), lhs, expr)
#define AUTOMATE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

namespace automate::internal {

// The same status with "context: " put before each line of its message
// (a message of several problems has one per line, each to be read alone).
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  std::string prefix = absl::StrCat(context, ": ");
  std::string message = prefix + std::string(status.message());
  absl::StrReplaceAll({{"\n", "\n" + prefix}}, &message);
  return absl::Status(status.code(), std::move(message));
}

}  // namespace automate::internal

#endif  // AUTOMATE_UTIL_STATUS_MACROS_H_
