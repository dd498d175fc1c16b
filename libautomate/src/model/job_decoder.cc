#include "model/job_decoder.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "automate/job.h"
#include "model/units.h"

namespace automate::internal {
namespace {

// yaml-cpp marks are 0-based; a node made up by yaml-cpp has none.
int LineOfNode(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  return mark.is_null() || mark.line < 0 ? 0 : mark.line + 1;
}

std::string Child(const std::string& path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

template <typename Enum>
struct Choice {
  absl::string_view name;
  Enum value;
};

// Returns the value named by `text`; false if there is none.
template <typename Enum, size_t N>
bool FindChoice(const Choice<Enum> (&choices)[N], absl::string_view text, Enum* out) {
  for (const Choice<Enum>& c : choices) {
    if (c.name == text) {
      *out = c.value;
      return true;
    }
  }
  return false;
}

constexpr Choice<v1::ConcurrencyPolicy::Policy> kPolicies[] = {
    {"queue", v1::ConcurrencyPolicy::QUEUE},
    {"forbid", v1::ConcurrencyPolicy::FORBID},
    {"replace", v1::ConcurrencyPolicy::REPLACE}};
constexpr Choice<v1::DockerExecutor::PullPolicy> kPullPolicies[] = {
    {"always", v1::DockerExecutor::ALWAYS},
    {"if-not-present", v1::DockerExecutor::IF_NOT_PRESENT},
    {"never", v1::DockerExecutor::NEVER}};
constexpr Choice<v1::LogLimit::Action> kActions[] = {{"truncate", v1::LogLimit::TRUNCATE},
                                                     {"fail", v1::LogLimit::FAIL}};

}  // namespace

int JobDecoder::LineOf(absl::string_view path) const {
  // Walk out from the field to its parents: "params[1].name", "params[1]", "params", "".
  std::string p(path);
  while (true) {
    auto it = lines_.find(p);
    if (it != lines_.end()) return it->second;
    if (p.empty()) return 0;
    size_t cut = p.find_last_of(".[");
    p.resize(cut == std::string::npos ? 0 : cut);
  }
}

void JobDecoder::Error(const std::string& path, std::string message) {
  errors_.push_back(FieldError{path, std::move(message), LineOf(path)});
}

bool JobDecoder::CheckKey(const YAML::Node& key, const std::string& path, bool data_key,
                          absl::flat_hash_map<std::string, int>* seen, std::string* child) {
  if (!key.IsScalar()) {
    lines_.emplace(path + ".?", LineOfNode(key));
    Error(path + ".?", "field names must be strings");
    return false;
  }
  *child = data_key ? KeyPath(path, key.Scalar()) : Child(path, key.Scalar());
  int line = LineOfNode(key);
  auto [it, inserted] = seen->emplace(key.Scalar(), line);
  if (!inserted) {
    errors_.push_back(
        FieldError{*child, absl::StrCat("duplicate field (also at line ", it->second, ")"), line});
    return false;
  }
  lines_[*child] = line;
  return true;
}

void JobDecoder::DecodeMap(const YAML::Node& node, const std::string& path,
                           const std::vector<Field>& fields) {
  if (!node.IsMap()) return Error(path, "must be a mapping");
  absl::flat_hash_map<std::string, int> seen;
  for (const auto& entry : node) {
    std::string child;
    if (!CheckKey(entry.first, path, false, &seen, &child)) continue;
    const Field* field = nullptr;
    for (const Field& f : fields) {
      if (f.name == entry.first.Scalar()) field = &f;
    }
    if (field == nullptr) {
      std::vector<absl::string_view> names;
      for (const Field& f : fields) names.push_back(f.name);
      Error(child,
            absl::StrCat("unknown field (expected one of ", absl::StrJoin(names, ", "), ")"));
      continue;
    }
    // An empty value (`timeout:`) reads as if the field were left out.
    if (!entry.second.IsNull()) field->decode(entry.second, child);
  }
}

void JobDecoder::GetString(const YAML::Node& node, const std::string& path, std::string* out) {
  if (!node.IsScalar()) return Error(path, "must be a string");
  *out = node.Scalar();
}

void JobDecoder::GetBool(const YAML::Node& node, const std::string& path, bool* out) {
  const std::string s = node.IsScalar() ? node.Scalar() : "";
  if (s == "true" || s == "True" || s == "TRUE") {
    *out = true;
  } else if (s == "false" || s == "False" || s == "FALSE") {
    *out = false;
  } else {
    Error(path, "must be true or false");
  }
}

void JobDecoder::GetInt32(const YAML::Node& node, const std::string& path, int32_t* out) {
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), out)) {
    Error(path, "must be a 32-bit integer");
  }
}

void JobDecoder::GetDouble(const YAML::Node& node, const std::string& path, double* out) {
  if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), out) || !std::isfinite(*out)) {
    *out = 0;
    Error(path, "must be a number");
  }
}

void JobDecoder::GetDuration(const YAML::Node& node, const std::string& path,
                             google::protobuf::Duration* out) {
  absl::StatusOr<absl::Duration> d =
      node.IsScalar() ? ParseDuration(node.Scalar()) : ParseDuration("");
  if (!d.ok()) return Error(path, std::string(d.status().message()));
  *out = ToProtoDuration(*d);
}

void JobDecoder::GetByteSize(const YAML::Node& node, const std::string& path, int64_t* out) {
  absl::StatusOr<int64_t> size = node.IsScalar() ? ParseByteSize(node.Scalar()) : ParseByteSize("");
  if (!size.ok()) return Error(path, std::string(size.status().message()));
  *out = *size;
}

void JobDecoder::GetStringMap(const YAML::Node& node, const std::string& path, StringMap* out) {
  if (!node.IsMap()) return Error(path, "must be a mapping of strings to strings");
  absl::flat_hash_map<std::string, int> seen;
  for (const auto& entry : node) {
    std::string child;
    if (!CheckKey(entry.first, path, true, &seen, &child)) continue;
    std::string value;  // `KEY:` with no value is the empty string
    if (!entry.second.IsNull()) GetString(entry.second, child, &value);
    (*out)[entry.first.Scalar()] = value;
  }
}

void JobDecoder::GetStringList(const YAML::Node& node, const std::string& path,
                               google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!node.IsSequence()) return Error(path, "must be a list of strings");
  for (size_t i = 0; i < node.size(); ++i) {
    lines_[Index(path, i)] = LineOfNode(node[i]);
    GetString(node[i], Index(path, i), out->Add());
  }
}

void JobDecoder::DecodeCommand(const YAML::Node& node, const std::string& path,
                               google::protobuf::RepeatedPtrField<std::string>* out) {
  if (node.IsScalar()) {
    // A single string is a shell script, the common case for short jobs.
    if (node.Scalar().empty()) return Error(path, "must not be empty");
    out->Add("/bin/sh");
    out->Add("-c");
    out->Add(std::string(node.Scalar()));
    return;
  }
  if (!node.IsSequence()) return Error(path, "must be a list of strings or a string");
  GetStringList(node, path, out);
}

void JobDecoder::DecodeLocal(const YAML::Node& node, const std::string& path,
                             v1::LocalExecutor* out) {
  DecodeMap(
      node, path,
      {{"command", [&](auto& v, auto& p) { DecodeCommand(v, p, out->mutable_command()); }},
       {"working_dir", [&](auto& v, auto& p) { GetString(v, p, out->mutable_working_dir()); }},
       {"env", [&](auto& v, auto& p) { GetStringMap(v, p, out->mutable_env()); }},
       {"inherit_env", [&](auto& v, auto& p) {
          bool b = false;
          GetBool(v, p, &b);
          out->set_inherit_env(b);
        }}});
}

void JobDecoder::DecodeDocker(const YAML::Node& node, const std::string& path,
                              v1::DockerExecutor* out) {
  DecodeMap(
      node, path,
      {{"image", [&](auto& v, auto& p) { GetString(v, p, out->mutable_image()); }},
       {"command", [&](auto& v, auto& p) { DecodeCommand(v, p, out->mutable_command()); }},
       {"entrypoint", [&](auto& v, auto& p) { DecodeCommand(v, p, out->mutable_entrypoint()); }},
       {"env", [&](auto& v, auto& p) { GetStringMap(v, p, out->mutable_env()); }},
       {"working_dir", [&](auto& v, auto& p) { GetString(v, p, out->mutable_working_dir()); }},
       // `user: 1000` is a YAML integer; any scalar reads as its text.
       {"user", [&](auto& v, auto& p) { GetString(v, p, out->mutable_user()); }},
       {"resources",
        [&](auto& v, auto& p) {
          auto* resources = out->mutable_resources();
          DecodeMap(v, p,
                    {{"cpus",
                      [&](auto& v2, auto& p2) {
                        double cpus = 0;
                        GetDouble(v2, p2, &cpus);
                        resources->set_cpus(cpus);
                      }},
                     {"memory", [&](auto& v2, auto& p2) {
                        int64_t bytes = 0;
                        GetByteSize(v2, p2, &bytes);
                        resources->set_memory_bytes(bytes);
                      }}});
        }},
       {"network", [&](auto& v, auto& p) { GetString(v, p, out->mutable_network()); }},
       {"mounts", [&](auto& v, auto& p) { GetStringList(v, p, out->mutable_mounts()); }},
       {"pull",
        [&](auto& v, auto& p) {
          v1::DockerExecutor::PullPolicy policy;
          if (!v.IsScalar() || !FindChoice(kPullPolicies, v.Scalar(), &policy)) {
            return Error(p, "must be one of always, if-not-present, never");
          }
          out->set_pull(policy);
        }},
       {"registry_auth_secret",
        [&](auto& v, auto& p) { GetString(v, p, out->mutable_registry_auth_secret()); }},
       {"keep_failed_containers", [&](auto& v, auto& p) {
          bool b = false;
          GetBool(v, p, &b);
          out->set_keep_failed_containers(b);
        }}});
}

void JobDecoder::DecodeExecutor(const YAML::Node& node, const std::string& path,
                                v1::ExecutorSpec* out) {
  // Counting kinds here rather than trusting the oneof: with a second kind,
  // the oneof would silently keep only the last one.
  std::vector<std::string> kinds;
  DecodeMap(node, path,
            {{"local",
              [&](auto& v, auto& p) {
                kinds.push_back("local");
                DecodeLocal(v, p, out->mutable_local());
              }},
             {"docker", [&](auto& v, auto& p) {
                kinds.push_back("docker");
                DecodeDocker(v, p, out->mutable_docker());
              }}});
  if (kinds.size() > 1) {
    Error(path,
          absl::StrCat("must set exactly one executor kind, not ", absl::StrJoin(kinds, " and ")));
  }
}

void JobDecoder::DecodeParams(const YAML::Node& node, const std::string& path, v1::JobSpec* out) {
  if (!node.IsSequence()) return Error(path, "must be a list of params");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item = Index(path, i);
    lines_[item] = LineOfNode(node[i]);
    v1::Param* param = out->add_params();
    DecodeMap(
        node[i], item,
        {{"name", [&](auto& v, auto& p) { GetString(v, p, param->mutable_name()); }},
         {"description", [&](auto& v, auto& p) { GetString(v, p, param->mutable_description()); }},
         {"required",
          [&](auto& v, auto& p) {
            bool b = false;
            GetBool(v, p, &b);
            param->set_required(b);
          }},
         // Any scalar: `default: 7` and `default: true` are strings too.
         {"default", [&](auto& v, auto& p) { GetString(v, p, param->mutable_default_()); }},
         {"pattern", [&](auto& v, auto& p) { GetString(v, p, param->mutable_pattern()); }}});
  }
}

void JobDecoder::DecodeRetry(const YAML::Node& node, const std::string& path,
                             v1::RetryPolicy* out) {
  out->set_max_attempts(1);  // a retry block without max_attempts still means one attempt
  DecodeMap(
      node, path,
      {{"max_attempts",
        [&](auto& v, auto& p) {
          int32_t n = 0;
          GetInt32(v, p, &n);
          out->set_max_attempts(n);
        }},
       {"initial_backoff",
        [&](auto& v, auto& p) { GetDuration(v, p, out->mutable_initial_backoff()); }},
       {"max_backoff", [&](auto& v, auto& p) { GetDuration(v, p, out->mutable_max_backoff()); }},
       {"multiplier", [&](auto& v, auto& p) {
          double m = 0;
          GetDouble(v, p, &m);
          out->set_multiplier(m);
        }}});
}

void JobDecoder::DecodeConcurrency(const YAML::Node& node, const std::string& path,
                                   v1::ConcurrencyPolicy* out) {
  DecodeMap(node, path,
            {{"limit",
              [&](auto& v, auto& p) {
                int32_t n = 0;
                GetInt32(v, p, &n);
                out->set_limit(n);
              }},
             {"policy", [&](auto& v, auto& p) {
                v1::ConcurrencyPolicy::Policy policy;
                if (!v.IsScalar() || !FindChoice(kPolicies, v.Scalar(), &policy)) {
                  return Error(p, "must be one of queue, forbid, replace");
                }
                out->set_policy(policy);
              }}});
}

void JobDecoder::DecodeLogLimit(const YAML::Node& node, const std::string& path,
                                v1::LogLimit* out) {
  DecodeMap(node, path,
            {{"bytes",
              [&](auto& v, auto& p) {
                int64_t n = 0;
                GetByteSize(v, p, &n);
                out->set_bytes(n);
              }},
             {"action", [&](auto& v, auto& p) {
                v1::LogLimit::Action action;
                if (!v.IsScalar() || !FindChoice(kActions, v.Scalar(), &action)) {
                  return Error(p, "must be one of truncate, fail");
                }
                out->set_action(action);
              }}});
}

v1::JobSpec JobDecoder::Decode(const YAML::Node& doc) {
  v1::JobSpec spec;
  lines_[""] = LineOfNode(doc);
  if (!doc.IsMap()) {
    Error("", "a job document must be a mapping of fields (name, executor, ...)");
    return spec;
  }
  int32_t priority = 0;
  DecodeMap(
      doc, "",
      {{"name", [&](auto& v, auto& p) { GetString(v, p, spec.mutable_name()); }},
       {"description", [&](auto& v, auto& p) { GetString(v, p, spec.mutable_description()); }},
       {"labels", [&](auto& v, auto& p) { GetStringMap(v, p, spec.mutable_labels()); }},
       {"executor", [&](auto& v, auto& p) { DecodeExecutor(v, p, spec.mutable_executor()); }},
       {"params", [&](auto& v, auto& p) { DecodeParams(v, p, &spec); }},
       {"secrets", [&](auto& v, auto& p) { GetStringList(v, p, spec.mutable_secrets()); }},
       {"timeout", [&](auto& v, auto& p) { GetDuration(v, p, spec.mutable_timeout()); }},
       {"retry", [&](auto& v, auto& p) { DecodeRetry(v, p, spec.mutable_retry()); }},
       {"concurrency",
        [&](auto& v, auto& p) { DecodeConcurrency(v, p, spec.mutable_concurrency()); }},
       {"priority", [&](auto& v, auto& p) { GetInt32(v, p, &priority); }},
       {"log_limit", [&](auto& v, auto& p) { DecodeLogLimit(v, p, spec.mutable_log_limit()); }},
       {"allowed_groups",
        [&](auto& v, auto& p) { GetStringList(v, p, spec.mutable_allowed_groups()); }}});
  spec.set_priority(priority);
  return spec;
}

}  // namespace automate::internal
