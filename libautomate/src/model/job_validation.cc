#include "model/job_validation.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "automate/job.h"
#include "model/field_error.h"
#include "model/units.h"

namespace automate {
namespace internal {
namespace {

// libstdc++ matches std::regex recursively, so a long value can exhaust the
// stack instead of throwing; values longer than this are refused outright.
constexpr size_t kMaxPatternValueLength = 4096;

constexpr char kNameRule[] =
    "must be a lowercase DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters";
constexpr char kLabelKeyRule[] =
    "label key must be [prefix/]name: name is 1-63 characters of [A-Za-z0-9-_.] starting "
    "and ending alphanumeric; prefix is a lowercase DNS subdomain";
constexpr char kLabelValueRule[] =
    "label value must be empty or 1-63 characters of [A-Za-z0-9-_.] starting and ending "
    "alphanumeric";

using Errors = std::vector<FieldError>;

void Add(Errors* errors, std::string path, std::string message) {
  errors->push_back(FieldError{std::move(path), std::move(message), 0});
}

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
  });
}

bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!IsDnsLabel(label)) return false;
  }
  return true;
}

// Kubernetes label names and values: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?.
bool IsLabelName(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!absl::ascii_isalnum(s.front()) || !absl::ascii_isalnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool IsLabelKey(absl::string_view key) {
  size_t slash = key.find('/');
  if (slash == absl::string_view::npos) return IsLabelName(key);
  return IsDnsSubdomain(key.substr(0, slash)) && IsLabelName(key.substr(slash + 1));
}

void CheckName(const v1::JobSpec& spec, Errors* errors) {
  if (spec.name().empty()) {
    Add(errors, "name", "required");
  } else if (!IsDnsLabel(spec.name())) {
    Add(errors, "name", kNameRule);
  }
}

// Proto maps iterate in no fixed order; sorted keys keep messages stable.
template <typename Map>
std::vector<std::string> SortedKeys(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

void CheckLabels(const v1::JobSpec& spec, Errors* errors) {
  for (const std::string& key : SortedKeys(spec.labels())) {
    if (!IsLabelKey(key)) Add(errors, KeyPath("labels", key), kLabelKeyRule);
    const std::string& value = spec.labels().at(key);
    if (!value.empty() && !IsLabelName(value)) {
      Add(errors, KeyPath("labels", key), kLabelValueRule);
    }
  }
}

void CheckLocalExecutor(const v1::LocalExecutor& local, Errors* errors) {
  if (local.command().empty()) {
    Add(errors, "executor.local.command", "required");
  } else if (local.command(0).empty()) {
    Add(errors, "executor.local.command[0]", "must not be empty");
  }
  for (const std::string& key : SortedKeys(local.env())) {
    if (!IsEnvName(key)) Add(errors, KeyPath("executor.local.env", key), kEnvNameRule);
  }
}

// Docker's image reference: [registry[:port]/]path[:tag][@digest], no
// whitespace; the path is lowercase.
bool IsImageReference(absl::string_view ref) {
  if (ref.empty() || ref.size() > 512) return false;
  for (char c : ref) {
    if (!absl::ascii_isgraph(c)) return false;
  }
  absl::string_view name = ref.substr(0, ref.find('@'));
  if (ref.find('@') != absl::string_view::npos) {
    absl::string_view digest = ref.substr(ref.find('@') + 1);
    if (digest.find(':') == absl::string_view::npos) return false;
  }
  // A tag is what follows the last ':' when no '/' comes after it.
  size_t colon = name.rfind(':');
  if (colon != absl::string_view::npos && name.find('/', colon) == absl::string_view::npos) {
    absl::string_view tag = name.substr(colon + 1);
    if (tag.empty() || tag.size() > 128) return false;
    name = name.substr(0, colon);
  }
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  // The first component may be a registry host (with dots, a port or caps).
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    bool registry = i == 0 && parts.size() > 1 &&
                    (parts[0].find_first_of(".:") != absl::string_view::npos ||
                     parts[0] == "localhost");
    for (char c : parts[i]) {
      bool ok = registry ? (absl::ascii_isalnum(c) || c == '.' || c == '-' || c == ':')
                         : (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
                            c == '_' || c == '-');
      if (!ok) return false;
    }
    if (parts[i].empty()) return false;
  }
  return true;
}

// Names of networks and volumes: [A-Za-z0-9][A-Za-z0-9_.-]*.
bool IsObjectName(absl::string_view s) {
  if (s.empty() || s.size() > 255 || !absl::ascii_isalnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// "uid", "uid:gid", "name" or "name:group".
bool IsContainerUser(absl::string_view s) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, ':');
  if (parts.size() > 2) return false;
  for (absl::string_view part : parts) {
    if (part.empty() || part.size() > 64) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
    }
  }
  return true;
}

void CheckMount(const std::string& mount, const std::string& path, Errors* errors) {
  std::vector<std::string> parts = absl::StrSplit(mount, ':');
  if (parts.size() < 2 || parts.size() > 3) {
    Add(errors, path, "must be source:target or source:target:ro|rw");
    return;
  }
  const std::string& source = parts[0];
  if (source.empty() || (source.front() != '/' && !IsObjectName(source))) {
    Add(errors, path, "source must be an absolute host path or a volume name");
  }
  if (parts[1].empty() || parts[1].front() != '/') {
    Add(errors, path, "target must be an absolute path in the container");
  }
  if (parts.size() == 3) {
    for (absl::string_view option : absl::StrSplit(parts[2], ',')) {
      if (option != "ro" && option != "rw" && option != "z" && option != "Z") {
        Add(errors, path, absl::StrCat("unknown mount option \"", option, "\" (expected ro, rw, z or Z)"));
      }
    }
  }
}

void CheckDockerExecutor(const v1::DockerExecutor& docker, Errors* errors) {
  if (docker.image().empty()) {
    Add(errors, "executor.docker.image", "required");
  } else if (!IsImageReference(docker.image())) {
    Add(errors, "executor.docker.image",
        "must be an image reference: [registry/]name[:tag][@digest], lowercase, no spaces");
  }
  if (!docker.command().empty() && docker.command(0).empty()) {
    Add(errors, "executor.docker.command[0]", "must not be empty");
  }
  if (!docker.entrypoint().empty() && docker.entrypoint(0).empty()) {
    Add(errors, "executor.docker.entrypoint[0]", "must not be empty");
  }
  for (const std::string& key : SortedKeys(docker.env())) {
    if (!IsEnvName(key)) Add(errors, KeyPath("executor.docker.env", key), kEnvNameRule);
  }
  if (!docker.working_dir().empty() && docker.working_dir().front() != '/') {
    Add(errors, "executor.docker.working_dir", "must be an absolute path in the container");
  }
  if (!docker.user().empty() && !IsContainerUser(docker.user())) {
    Add(errors, "executor.docker.user", "must be uid[:gid] or name[:group]");
  }
  const auto& resources = docker.resources();
  if (!std::isfinite(resources.cpus()) || resources.cpus() < 0 || resources.cpus() > 1024) {
    Add(errors, "executor.docker.resources.cpus", "must be between 0 and 1024");
  } else if (resources.cpus() > 0 && resources.cpus() < 0.01) {
    Add(errors, "executor.docker.resources.cpus", "must be at least 0.01 when set");
  }
  if (resources.memory_bytes() < 0) {
    Add(errors, "executor.docker.resources.memory", "must not be negative");
  } else if (resources.memory_bytes() > 0 && resources.memory_bytes() < (int64_t{6} << 20)) {
    Add(errors, "executor.docker.resources.memory", "must be at least 6Mi (Docker's minimum)");
  }
  if (!docker.network().empty() && !IsObjectName(docker.network())) {
    Add(errors, "executor.docker.network",
        "must be none, bridge, host or a network name ([A-Za-z0-9][A-Za-z0-9_.-]*)");
  }
  for (int i = 0; i < docker.mounts_size(); ++i) {
    CheckMount(docker.mounts(i), absl::StrCat("executor.docker.mounts[", i, "]"), errors);
  }
  if (!docker.registry_auth_secret().empty() && !IsEnvName(docker.registry_auth_secret())) {
    Add(errors, "executor.docker.registry_auth_secret", kEnvNameRule);
  }
}

void CheckExecutor(const v1::JobSpec& spec, Errors* errors) {
  if (!spec.has_executor()) {
    Add(errors, "executor", "required");
    return;
  }
  switch (spec.executor().kind_case()) {
    case v1::ExecutorSpec::kLocal:
      CheckLocalExecutor(spec.executor().local(), errors);
      return;
    case v1::ExecutorSpec::kDocker:
      CheckDockerExecutor(spec.executor().docker(), errors);
      return;
    case v1::ExecutorSpec::KIND_NOT_SET:
      break;
  }
  Add(errors, "executor", "must set exactly one executor kind (local, docker)");
}

void CheckParam(const v1::Param& param, const std::string& path, Errors* errors) {
  if (!IsEnvName(param.name())) Add(errors, path + ".name", kEnvNameRule);
  if (param.required() && param.has_default_()) {
    Add(errors, path + ".default", "a required param cannot have a default");
  }
  if (param.pattern().empty()) return;
  absl::StatusOr<bool> compiles = PatternMatches(param.pattern(), "");
  if (!compiles.ok()) {
    Add(errors, path + ".pattern", std::string(compiles.status().message()));
    return;
  }
  if (!param.has_default_()) return;
  absl::StatusOr<bool> matches = PatternMatches(param.pattern(), param.default_());
  if (!matches.ok()) {
    Add(errors, path + ".default", std::string(matches.status().message()));
  } else if (!*matches) {
    Add(errors, path + ".default", absl::StrCat("does not match the pattern ", param.pattern()));
  }
}

void CheckParams(const v1::JobSpec& spec, Errors* errors) {
  absl::flat_hash_map<std::string, int> seen;
  for (int i = 0; i < spec.params_size(); ++i) {
    const v1::Param& param = spec.params(i);
    std::string path = absl::StrCat("params[", i, "]");
    CheckParam(param, path, errors);
    auto [it, inserted] = seen.emplace(param.name(), i);
    if (!inserted && !param.name().empty()) {
      Add(errors, path + ".name",
          absl::StrCat("duplicate param name (also params[", it->second, "])"));
    }
  }
}

void CheckSecrets(const v1::JobSpec& spec, Errors* errors) {
  absl::flat_hash_map<std::string, int> seen;
  for (int i = 0; i < spec.secrets_size(); ++i) {
    const std::string& name = spec.secrets(i);
    std::string path = absl::StrCat("secrets[", i, "]");
    if (!IsEnvName(name)) Add(errors, path, kEnvNameRule);
    auto [it, inserted] = seen.emplace(name, i);
    if (!inserted) {
      Add(errors, path, absl::StrCat("duplicate secret name (also secrets[", it->second, "])"));
    }
    for (const v1::Param& param : spec.params()) {
      if (param.name() == name) Add(errors, path, "is also a param name; use one or the other");
    }
  }
}

// Checks a duration field that is set; returns false if it is not usable.
bool CheckDuration(const google::protobuf::Duration& d, const std::string& path, bool positive,
                   Errors* errors) {
  if (!IsValidProtoDuration(d)) {
    Add(errors, path, "must be a valid duration");
    return false;
  }
  absl::Duration value = FromProtoDuration(d);
  if (value < absl::ZeroDuration() || (positive && value == absl::ZeroDuration())) {
    Add(errors, path, positive ? "must be positive" : "must not be negative");
    return false;
  }
  return true;
}

void CheckRetry(const v1::RetryPolicy& retry, Errors* errors) {
  if (retry.max_attempts() < 1) Add(errors, "retry.max_attempts", "must be at least 1");
  bool initial_ok = retry.has_initial_backoff() &&
                    CheckDuration(retry.initial_backoff(), "retry.initial_backoff", false, errors);
  bool max_ok = retry.has_max_backoff() &&
                CheckDuration(retry.max_backoff(), "retry.max_backoff", false, errors);
  if (initial_ok && max_ok &&
      FromProtoDuration(retry.max_backoff()) < FromProtoDuration(retry.initial_backoff())) {
    Add(errors, "retry.max_backoff", "must not be less than initial_backoff");
  }
  // 0 stands for the default (2); below 1 the backoff would shrink.
  if (!std::isfinite(retry.multiplier()) || retry.multiplier() < 0 ||
      (retry.multiplier() > 0 && retry.multiplier() < 1)) {
    Add(errors, "retry.multiplier", "must be at least 1");
  }
}

void CheckAllowedGroups(const v1::JobSpec& spec, Errors* errors) {
  std::map<std::string, int> groups;
  for (int i = 0; i < spec.allowed_groups_size(); ++i) {
    const std::string& group = spec.allowed_groups(i);
    std::string path = absl::StrCat("allowed_groups[", i, "]");
    if (!IsGroupName(group)) {
      Add(errors, path, "must be 1-63 characters of a-z, 0-9, '-', '_' and '.'");
    } else if (auto [it, inserted] = groups.emplace(group, i); !inserted) {
      Add(errors, path, absl::StrCat("duplicate group (also allowed_groups[", it->second, "])"));
    }
  }
}

void CheckLimits(const v1::JobSpec& spec, Errors* errors) {
  if (spec.has_timeout()) CheckDuration(spec.timeout(), "timeout", true, errors);
  if (spec.has_retry()) CheckRetry(spec.retry(), errors);
  const v1::ConcurrencyPolicy& concurrency = spec.concurrency();
  if (concurrency.limit() < 0) Add(errors, "concurrency.limit", "must not be negative");
  if (!v1::ConcurrencyPolicy::Policy_IsValid(concurrency.policy())) {
    Add(errors, "concurrency.policy", absl::StrCat("unknown value ", concurrency.policy()));
  }
  const v1::LogLimit& log_limit = spec.log_limit();
  if (log_limit.bytes() < 0) Add(errors, "log_limit.bytes", "must not be negative");
  if (!v1::LogLimit::Action_IsValid(log_limit.action())) {
    Add(errors, "log_limit.action", absl::StrCat("unknown value ", log_limit.action()));
  }
}

}  // namespace

bool IsGroupName(absl::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool IsEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

absl::StatusOr<bool> PatternMatches(absl::string_view pattern, absl::string_view value) {
  // std::regex reports bad patterns and runaway matches only by throwing.
  std::regex re;
  try {
    re.assign(pattern.begin(), pattern.end(), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid ECMAScript regular expression (", e.what(), ")"));
  }
  if (value.size() > kMaxPatternValueLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("longer than ", kMaxPatternValueLength,
                     " characters, the most a pattern is matched against"));
  }
  try {
    return std::regex_match(value.begin(), value.end(), re);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("too complex to match the pattern (", e.what(), ")"));
  }
}

std::vector<FieldError> CheckJobSpec(const v1::JobSpec& spec) {
  Errors errors;
  CheckName(spec, &errors);
  CheckLabels(spec, &errors);
  CheckExecutor(spec, &errors);
  CheckParams(spec, &errors);
  CheckSecrets(spec, &errors);
  CheckLimits(spec, &errors);
  CheckAllowedGroups(spec, &errors);
  return errors;
}

}  // namespace internal

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  std::vector<internal::FieldError> errors = internal::CheckJobSpec(spec);
  if (errors.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const internal::FieldError& e : errors) lines.push_back(internal::FormatFieldError(e));
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace automate
