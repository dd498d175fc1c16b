// ResolveArgs: turns the arguments of one submission into the complete set of
// param values. Messages name params but never echo values: they may be
// sensitive, and the caller already has them.
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "automate/job.h"
#include "model/job_validation.h"

namespace automate {
namespace {

const v1::Param* FindParam(const v1::JobSpec& spec, const std::string& name) {
  for (const v1::Param& param : spec.params()) {
    if (param.name() == name) return &param;
  }
  return nullptr;
}

std::string UnknownArgError(const v1::JobSpec& spec, const std::string& name) {
  std::vector<std::string> names;
  for (const v1::Param& param : spec.params()) names.push_back(param.name());
  std::string known = names.empty() ? "none" : absl::StrJoin(names, ", ");
  return absl::StrCat("argument \"", name, "\": the job has no such param (params: ", known, ")");
}

// The value for `param`, or "" with *error set.
std::string ResolveOne(const v1::Param& param, const std::map<std::string, std::string>& args,
                       std::string* error) {
  std::string prefix = absl::StrCat("argument \"", param.name(), "\": ");
  auto it = args.find(param.name());
  if (it == args.end() && !param.has_default_()) {
    if (param.required()) *error = prefix + "required";
    return "";  // optional without default: the variable is set, empty
  }
  const std::string& value = it != args.end() ? it->second : param.default_();
  if (param.pattern().empty()) return value;
  absl::StatusOr<bool> matches = internal::PatternMatches(param.pattern(), value);
  if (!matches.ok()) {
    *error = absl::StrCat(prefix, "value ", matches.status().message());
  } else if (!*matches) {
    *error = absl::StrCat(prefix, "value does not match ", param.pattern());
  }
  return value;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ResolveArgs(
    const v1::JobSpec& spec, const std::map<std::string, std::string>& args) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : args) {
    if (FindParam(spec, name) == nullptr) errors.push_back(UnknownArgError(spec, name));
  }
  std::map<std::string, std::string> resolved;
  for (const v1::Param& param : spec.params()) {
    std::string error;
    std::string value = ResolveOne(param, args, &error);
    if (!error.empty()) {
      errors.push_back(std::move(error));
    } else {
      resolved[param.name()] = std::move(value);
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return resolved;
}

}  // namespace automate
