#include "model/field_error.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace automate::internal {
namespace {

// True if `inner` is a field path inside `outer` (or equal to it).
bool IsWithin(absl::string_view inner, absl::string_view outer) {
  if (outer.empty()) return true;
  if (!absl::StartsWith(inner, outer)) return false;
  if (inner.size() == outer.size()) return true;
  char next = inner[outer.size()];
  return next == '.' || next == '[';
}

}  // namespace

std::string FormatFieldError(const FieldError& error) {
  if (error.path.empty()) return error.message;
  return absl::StrCat(error.path, ": ", error.message);
}

std::string FormatFileError(absl::string_view filename, const FieldError& error) {
  if (error.line > 0) {
    return absl::StrCat(filename, ":", error.line, ": ", FormatFieldError(error));
  }
  return absl::StrCat(filename, ": ", FormatFieldError(error));
}

std::string KeyPath(absl::string_view parent, absl::string_view key) {
  return absl::StrCat(parent, "[\"", absl::CHexEscape(key), "\"]");
}

bool PathsOverlap(absl::string_view a, absl::string_view b) {
  return IsWithin(a, b) || IsWithin(b, a);
}

}  // namespace automate::internal
