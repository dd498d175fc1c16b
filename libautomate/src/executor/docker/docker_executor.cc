#include "executor/docker/docker_executor.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "automate/docker_executor.h"
#include "executor/docker/docker_attempt.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "util/status_macros.h"

namespace automate {
namespace internal {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void String(JsonWriter& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void StringArray(JsonWriter& w, const char* key,
                 const google::protobuf::RepeatedPtrField<std::string>& values) {
  if (values.empty()) return;
  w.Key(key);
  w.StartArray();
  for (const std::string& v : values) String(w, v);
  w.EndArray();
}

class DockerHandle : public AttemptHandle {
 public:
  explicit DockerHandle(std::shared_ptr<DockerAttempt> attempt) : attempt_(std::move(attempt)) {}
  std::string external_id() const override { return attempt_->container(); }
  std::map<std::string, std::string> executor_state() const override {
    return {{"container", attempt_->container()}};
  }
  void Cancel(absl::Duration grace) override { attempt_->Cancel(grace); }

 private:
  const std::shared_ptr<DockerAttempt> attempt_;
};

// The values of the job's secrets among `env` (params are not secret).
std::vector<std::string> SecretValues(const Executor::StartParams& params) {
  std::vector<std::string> values;
  for (const std::string& name : params.job->secrets()) {
    for (const auto& [key, value] : params.env) {
      if (key == name) values.push_back(value);
    }
  }
  for (const auto& [name, value] : params.executor_secrets) values.push_back(value);
  return values;
}

}  // namespace

std::string ContainerName(absl::string_view execution_id, int attempt) {
  return absl::StrCat("automate-", absl::AsciiStrToLower(execution_id), "-", attempt);
}

std::string ContainerConfigJson(const Executor::StartParams& params, absl::string_view engine_tag) {
  const v1::DockerExecutor& spec = params.job->executor().docker();
  // Later values of a name win: the job's env, then params and secrets,
  // then automate's own markers.
  std::vector<std::pair<std::string, std::string>> env;
  absl::flat_hash_map<std::string, size_t> index;
  auto set = [&](const std::string& name, const std::string& value) {
    auto [it, inserted] = index.try_emplace(name, env.size());
    if (inserted) {
      env.emplace_back(name, value);
    } else {
      env[it->second].second = value;
    }
  };
  std::map<std::string, std::string> job_env(spec.env().begin(), spec.env().end());
  for (const auto& [name, value] : job_env) set(name, value);
  for (const auto& [name, value] : params.env) set(name, value);
  set("AUTOMATE_EXECUTION_ID", params.execution_id);
  set("AUTOMATE_ATTEMPT", absl::StrCat(params.attempt));

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("Image");
  String(w, spec.image());
  StringArray(w, "Cmd", spec.command());
  StringArray(w, "Entrypoint", spec.entrypoint());
  w.Key("Env");
  w.StartArray();
  for (const auto& [name, value] : env) String(w, absl::StrCat(name, "=", value));
  w.EndArray();
  if (!spec.working_dir().empty()) {
    w.Key("WorkingDir");
    String(w, spec.working_dir());
  }
  if (!spec.user().empty()) {
    w.Key("User");
    String(w, spec.user());
  }
  w.Key("Tty");
  w.Bool(false);
  w.Key("OpenStdin");
  w.Bool(false);
  w.Key("AttachStdout");
  w.Bool(true);
  w.Key("AttachStderr");
  w.Bool(true);
  w.Key("Labels");
  w.StartObject();
  w.Key(kExecutionLabel);
  String(w, params.execution_id);
  w.Key(kJobLabel);
  String(w, params.job->name());
  w.Key(kAttemptLabel);
  String(w, absl::StrCat(params.attempt));
  w.Key(kEngineLabel);
  String(w, engine_tag);
  if (spec.keep_failed_containers()) {
    w.Key(kKeepFailedLabel);
    String(w, "true");
  }
  w.EndObject();
  w.Key("HostConfig");
  w.StartObject();
  w.Key("AutoRemove");
  w.Bool(false);  // The log and exit code are read after the end.
  if (!spec.network().empty()) {
    w.Key("NetworkMode");
    String(w, spec.network());
  }
  StringArray(w, "Binds", spec.mounts());
  if (spec.resources().cpus() > 0) {
    w.Key("NanoCpus");
    w.Int64(std::llround(spec.resources().cpus() * 1e9));
  }
  if (spec.resources().memory_bytes() > 0) {
    w.Key("Memory");
    w.Int64(spec.resources().memory_bytes());
  }
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

DockerExecutor::DockerExecutor(DockerExecutorOptions options, HttpTransportOptions transport)
    : options_(std::move(options)), api_(std::move(transport), options_.api_version) {}

DockerExecutor::~DockerExecutor() {
  std::vector<std::shared_ptr<DockerAttempt>> attempts;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, running] : running_) attempts.push_back(running.attempt);
  }
  // Containers outlive the engine: stop observing, leave them running.
  for (auto& attempt : attempts) attempt->Abandon();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](absl::flat_hash_map<uint64_t, Running>* running) { return running->empty(); },
        &running_));
  }
  JoinFinished();
}

absl::Status DockerExecutor::Validate(const v1::JobSpec& job) const {
  if (!job.executor().has_docker()) {
    return absl::InvalidArgumentError("executor.docker: must be set");
  }
  if (job.executor().docker().image().empty()) {
    return absl::InvalidArgumentError("executor.docker.image: required");
  }
  return absl::OkStatus();
}

std::vector<std::string> DockerExecutor::SecretNames(const v1::JobSpec& job) const {
  if (!job.executor().has_docker() || job.executor().docker().registry_auth_secret().empty()) {
    return {};
  }
  return {job.executor().docker().registry_auth_secret()};
}

void DockerExecutor::Launch(std::shared_ptr<DockerAttempt> attempt) {
  JoinFinished();
  absl::MutexLock lock(&mu_);
  const uint64_t key = next_key_++;
  Running& running = running_[key];
  running.attempt = attempt;
  // mu_ is held until the thread is stored, so its last step (below) finds it.
  running.thread = std::thread([this, key, attempt = std::move(attempt)] {
    attempt->Run();
    absl::MutexLock done(&mu_);
    auto it = running_.find(key);
    finished_.push_back(std::move(it->second.thread));
    running_.erase(it);
  });
}

void DockerExecutor::JoinFinished() {
  std::vector<std::thread> finished;
  {
    absl::MutexLock lock(&mu_);
    finished.swap(finished_);
  }
  for (std::thread& t : finished) t.join();
}

absl::StatusOr<std::unique_ptr<AttemptHandle>> DockerExecutor::Start(StartParams params) {
  if (params.job == nullptr || params.log_sink == nullptr || !params.on_done) {
    return absl::InvalidArgumentError("docker: job, log_sink and on_done are required");
  }
  AUTOMATE_RETURN_IF_ERROR(Validate(*params.job));
  const v1::DockerExecutor& spec = params.job->executor().docker();
  DockerAttempt::Config config;
  config.execution_id = params.execution_id;
  config.attempt = params.attempt;
  config.container = ContainerName(params.execution_id, params.attempt);
  config.spec = spec;
  config.create_body = ContainerConfigJson(params, options_.engine_tag);
  config.secret_values = SecretValues(params);
  if (!spec.registry_auth_secret().empty()) {
    auto it = params.executor_secrets.find(spec.registry_auth_secret());
    if (it == params.executor_secrets.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("executor.docker.registry_auth_secret: secret ",
                       spec.registry_auth_secret(), " is not set"));
    }
    absl::StatusOr<std::string> auth = RegistryAuthHeader(spec.image(), it->second);
    if (!auth.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("executor.docker.registry_auth_secret: ",
                                                     auth.status().message()));
    }
    config.registry_auth = *std::move(auth);
  }
  auto attempt = std::make_shared<DockerAttempt>(&api_, std::move(config), params.log_sink,
                                                 std::move(params.on_done));
  Launch(attempt);
  return std::make_unique<DockerHandle>(std::move(attempt));
}

absl::StatusOr<std::unique_ptr<AttemptHandle>> DockerExecutor::Reattach(ReattachParams params) {
  const StartParams& start = params.start;
  if (start.job == nullptr || start.log_sink == nullptr || !start.on_done) {
    return absl::InvalidArgumentError("docker: job, log_sink and on_done are required");
  }
  AUTOMATE_RETURN_IF_ERROR(Validate(*start.job));
  std::string name = params.attempt.external_id();
  if (name.empty()) name = ContainerName(start.execution_id, start.attempt);
  absl::StatusOr<ContainerState> state = api_.Inspect(name);
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("docker: container ", name, " is gone"));
    }
    return state.status();
  }
  if (state->labels[kExecutionLabel] != start.execution_id) {
    return absl::NotFoundError(
        absl::StrCat("docker: container ", name, " belongs to another execution"));
  }
  DockerAttempt::Config config;
  config.execution_id = start.execution_id;
  config.attempt = start.attempt;
  config.container = name;
  config.spec = start.job->executor().docker();
  config.secret_values = SecretValues(start);
  config.reattach = true;
  config.start_on_reattach = state->status == "created";
  config.stored_stdout_bytes = params.stdout_bytes;
  config.stored_stderr_bytes = params.stderr_bytes;
  auto attempt = std::make_shared<DockerAttempt>(&api_, std::move(config), start.log_sink,
                                                 std::move(params.start.on_done));
  Launch(attempt);
  return std::make_unique<DockerHandle>(std::move(attempt));
}

absl::Status DockerExecutor::CleanupOrphans(const std::set<std::string>& live_execution_ids) {
  absl::StatusOr<std::vector<ContainerSummary>> containers =
      api_.List(absl::StrCat(kEngineLabel, "=", options_.engine_tag), absl::Seconds(5));
  if (!containers.ok()) {
    // No daemon here (the common case for engines that run no docker jobs):
    // then there is nothing of ours to clean up now.
    if (containers.status().code() == absl::StatusCode::kUnavailable) return absl::OkStatus();
    return containers.status();
  }
  absl::Status result;
  for (const ContainerSummary& c : *containers) {
    auto exec = c.labels.find(kExecutionLabel);
    if (exec != c.labels.end() && live_execution_ids.count(exec->second) > 0) continue;
    auto keep = c.labels.find(kKeepFailedLabel);
    if (keep != c.labels.end() && keep->second == "true" && c.state == "exited") {
      absl::StatusOr<ContainerState> state = api_.Inspect(c.id);
      if (state.ok() && state->exit_code != 0) continue;  // Kept for inspection.
    }
    absl::Status removed = api_.Remove(c.id);
    if (!removed.ok() && result.ok()) result = removed;
  }
  return result;
}

}  // namespace internal

DockerExecutorOptions DockerOptionsFromEnvironment(DockerExecutorOptions options) {
  auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
  };
  if (options.host.empty()) options.host = env("DOCKER_HOST");
  if (!options.tls_verify) options.tls_verify = !env("DOCKER_TLS_VERIFY").empty();
  if (options.cert_path.empty()) options.cert_path = env("DOCKER_CERT_PATH");
  if (options.api_version.empty()) options.api_version = env("DOCKER_API_VERSION");
  return options;
}

namespace {

// Which DockerExecutorOptions field a kInvalidArgument is about, for
// NameDockerSetting().
constexpr absl::string_view kFieldPayload = "type.automate.dev/docker-option-field";

absl::Status WithField(absl::Status status, absl::string_view field) {
  status.SetPayload(kFieldPayload, absl::Cord(field));
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Executor>> MakeDockerExecutor(DockerExecutorOptions options) {
  if (options.api_version.empty()) options.api_version = internal::kMinApiVersion;
  if (!internal::VersionAtLeast(options.api_version, internal::kMinApiVersion)) {
    return WithField(absl::InvalidArgumentError(absl::StrCat(
                         "docker API version \"", absl::CHexEscape(options.api_version),
                         "\": must be MAJOR.MINOR, ", internal::kMinApiVersion, " or later")),
                     "api_version");
  }
  if (options.engine_tag.empty()) options.engine_tag = "default";
  absl::StatusOr<internal::HttpTransportOptions> transport =
      internal::DockerTransportOptions(options);
  if (!transport.ok()) {
    return transport.status().code() == absl::StatusCode::kInvalidArgument
               ? WithField(transport.status(), "host")
               : transport.status();
  }
  return std::make_unique<internal::DockerExecutor>(std::move(options), *std::move(transport));
}

absl::Status NameDockerSetting(const absl::Status& status, absl::string_view host_setting,
                               absl::string_view api_version_setting) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return status;
  auto field = status.GetPayload(kFieldPayload);
  if (!field.has_value()) return status;
  return absl::InvalidArgumentError(absl::StrCat(
      *field == "api_version" ? api_version_setting : host_setting, ": ", status.message()));
}

}  // namespace automate
