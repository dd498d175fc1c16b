// JobSpecToYaml: a spec as a job file document. Fields at their default are
// left out, so the output reads like a hand-written file; ParseJobFile reads
// it back to an equal spec.
#include <algorithm>
#include <string>
#include <vector>

#include "automate/job.h"
#include "model/units.h"
#include "yaml-cpp/yaml.h"

namespace automate {
namespace {

// Whether `text` can be written as a `|` block and read back unchanged: a
// block keeps one final newline and loses trailing blanks and leading
// indentation, so only texts without those qualify.
bool FitsLiteralBlock(const std::string& text) {
  if (text.size() < 2 || text.back() != '\n' || text[text.size() - 2] == '\n') return false;
  if (text.front() == ' ' || text.front() == '\n') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if (c == '\t' || c == '\r' || (c < 0x20 && c != '\n') || c == 0x7f) return false;
    if (c == ' ' && i + 1 < text.size() && text[i + 1] == '\n') return false;
  }
  return true;
}

// Scripts and long descriptions read better as blocks than as "a\nb\n".
void EmitText(YAML::Emitter& out, const std::string& text) {
  if (FitsLiteralBlock(text)) {
    out << YAML::Literal << text;
  } else {
    out << text;
  }
}

template <typename Map>
void EmitStringMap(YAML::Emitter& out, const char* key, const Map& map) {
  if (map.empty()) return;
  std::vector<std::string> keys;  // sorted: proto maps have no stable order
  for (const auto& [k, v] : map) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const std::string& k : keys) out << YAML::Key << k << YAML::Value << map.at(k);
  out << YAML::EndMap;
}

void EmitCommand(YAML::Emitter& out, const char* key,
                 const google::protobuf::RepeatedPtrField<std::string>& command) {
  out << YAML::Key << key << YAML::Value;
  if (command.size() == 3 && command[0] == "/bin/sh" && command[1] == "-c") {
    EmitText(out, command[2]);  // the string form means exactly this argv
  } else {
    out << YAML::Flow << YAML::BeginSeq;
    for (const std::string& arg : command) out << arg;
    out << YAML::EndSeq;
  }
}

void EmitDocker(YAML::Emitter& out, const v1::DockerExecutor& docker) {
  out << YAML::Key << "docker" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "image" << YAML::Value << docker.image();
  if (!docker.entrypoint().empty()) EmitCommand(out, "entrypoint", docker.entrypoint());
  if (!docker.command().empty()) EmitCommand(out, "command", docker.command());
  EmitStringMap(out, "env", docker.env());
  if (!docker.working_dir().empty())
    out << YAML::Key << "working_dir" << YAML::Value << docker.working_dir();
  if (!docker.user().empty())
    out << YAML::Key << "user" << YAML::Value << YAML::DoubleQuoted << docker.user();
  const auto& resources = docker.resources();
  if (resources.cpus() > 0 || resources.memory_bytes() > 0) {
    out << YAML::Key << "resources" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (resources.cpus() > 0) out << YAML::Key << "cpus" << YAML::Value << resources.cpus();
    if (resources.memory_bytes() > 0) {
      out << YAML::Key << "memory" << YAML::Value << internal::FormatByteSize(resources.memory_bytes());
    }
    out << YAML::EndMap;
  }
  if (!docker.network().empty())
    out << YAML::Key << "network" << YAML::Value << docker.network();
  if (!docker.mounts().empty()) {
    out << YAML::Key << "mounts" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& m : docker.mounts()) out << m;
    out << YAML::EndSeq;
  }
  switch (docker.pull()) {
    case v1::DockerExecutor::ALWAYS:
      out << YAML::Key << "pull" << YAML::Value << "always";
      break;
    case v1::DockerExecutor::NEVER:
      out << YAML::Key << "pull" << YAML::Value << "never";
      break;
    case v1::DockerExecutor::IF_NOT_PRESENT:
      out << YAML::Key << "pull" << YAML::Value << "if-not-present";
      break;
    default:
      break;  // unset: if-not-present
  }
  if (!docker.registry_auth_secret().empty()) {
    out << YAML::Key << "registry_auth_secret" << YAML::Value << docker.registry_auth_secret();
  }
  if (docker.keep_failed_containers()) {
    out << YAML::Key << "keep_failed_containers" << YAML::Value << true;
  }
  out << YAML::EndMap;
}

void EmitLocal(YAML::Emitter& out, const v1::LocalExecutor& local) {
  out << YAML::Key << "local" << YAML::Value << YAML::BeginMap;
  EmitCommand(out, "command", local.command());
  if (!local.working_dir().empty())
    out << YAML::Key << "working_dir" << YAML::Value << local.working_dir();
  EmitStringMap(out, "env", local.env());
  if (local.inherit_env()) out << YAML::Key << "inherit_env" << YAML::Value << true;
  out << YAML::EndMap;
}

void EmitParams(YAML::Emitter& out, const v1::JobSpec& spec) {
  if (spec.params().empty()) return;
  out << YAML::Key << "params" << YAML::Value << YAML::BeginSeq;
  for (const v1::Param& p : spec.params()) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << p.name();
    if (!p.description().empty())
      out << YAML::Key << "description" << YAML::Value << p.description();
    if (p.required()) out << YAML::Key << "required" << YAML::Value << true;
    // Quoted, so that an empty default is not read back as "no default".
    if (p.has_default_())
      out << YAML::Key << "default" << YAML::Value << YAML::DoubleQuoted << p.default_();
    if (!p.pattern().empty()) out << YAML::Key << "pattern" << YAML::Value << p.pattern();
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void EmitDuration(YAML::Emitter& out, const char* key, const google::protobuf::Duration& d) {
  out << YAML::Key << key << YAML::Value
      << internal::FormatDuration(internal::FromProtoDuration(d));
}

void EmitRetry(YAML::Emitter& out, const v1::RetryPolicy& retry) {
  out << YAML::Key << "retry" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_attempts" << YAML::Value << retry.max_attempts();
  if (retry.has_initial_backoff()) EmitDuration(out, "initial_backoff", retry.initial_backoff());
  if (retry.has_max_backoff()) EmitDuration(out, "max_backoff", retry.max_backoff());
  if (retry.multiplier() != 0)
    out << YAML::Key << "multiplier" << YAML::Value << retry.multiplier();
  out << YAML::EndMap;
}

const char* PolicyName(v1::ConcurrencyPolicy::Policy policy) {
  switch (policy) {
    case v1::ConcurrencyPolicy::QUEUE:
      return "queue";
    case v1::ConcurrencyPolicy::FORBID:
      return "forbid";
    case v1::ConcurrencyPolicy::REPLACE:
      return "replace";
    default:
      return nullptr;
  }
}

const char* ActionName(v1::LogLimit::Action action) {
  switch (action) {
    case v1::LogLimit::TRUNCATE:
      return "truncate";
    case v1::LogLimit::FAIL:
      return "fail";
    default:
      return nullptr;
  }
}

void EmitLimits(YAML::Emitter& out, const v1::JobSpec& spec) {
  if (spec.has_concurrency()) {
    const v1::ConcurrencyPolicy& c = spec.concurrency();
    out << YAML::Key << "concurrency" << YAML::Value << YAML::BeginMap;
    if (c.limit() != 0) out << YAML::Key << "limit" << YAML::Value << c.limit();
    if (const char* name = PolicyName(c.policy()))
      out << YAML::Key << "policy" << YAML::Value << name;
    out << YAML::EndMap;
  }
  if (spec.priority() != 0) out << YAML::Key << "priority" << YAML::Value << spec.priority();
  if (spec.has_log_limit()) {
    const v1::LogLimit& l = spec.log_limit();
    out << YAML::Key << "log_limit" << YAML::Value << YAML::BeginMap;
    if (l.bytes() != 0) {
      out << YAML::Key << "bytes" << YAML::Value << internal::FormatByteSize(l.bytes());
    }
    if (const char* name = ActionName(l.action()))
      out << YAML::Key << "action" << YAML::Value << name;
    out << YAML::EndMap;
  }
}

}  // namespace

std::string JobSpecToYaml(const v1::JobSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << spec.name();
  if (!spec.description().empty()) {
    out << YAML::Key << "description" << YAML::Value;
    EmitText(out, spec.description());
  }
  EmitStringMap(out, "labels", spec.labels());
  if (spec.has_executor()) {
    out << YAML::Key << "executor" << YAML::Value << YAML::BeginMap;
    if (spec.executor().has_local()) EmitLocal(out, spec.executor().local());
    if (spec.executor().has_docker()) EmitDocker(out, spec.executor().docker());
    out << YAML::EndMap;
  }
  EmitParams(out, spec);
  if (!spec.allowed_groups().empty()) {
    out << YAML::Key << "allowed_groups" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& g : spec.allowed_groups()) out << g;
    out << YAML::EndSeq;
  }
  if (!spec.secrets().empty()) {
    out << YAML::Key << "secrets" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& s : spec.secrets()) out << s;
    out << YAML::EndSeq;
  }
  if (spec.has_timeout()) EmitDuration(out, "timeout", spec.timeout());
  if (spec.has_retry()) EmitRetry(out, spec.retry());
  EmitLimits(out, spec);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace automate
