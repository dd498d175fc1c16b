// automated: the reference daemon. Serves the engine of one state dir over
// HTTP (docs/api.md), with the web page and /metrics.
//
// Settings come from flags, then AUTOMATE_* environment variables, then an
// optional YAML file (--config / AUTOMATE_CONFIG), then defaults; `--help`
// lists each with its variable and default.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "api.h"
#include "auth.h"
#include "automate/docker_executor.h"
#include "automate/engine.h"
#include "automate/execution.h"
#include "automate/job.h"
#include "metrics.h"
#include "server.h"
#include "yaml-cpp/yaml.h"

namespace {
namespace v1 = automate::v1;

// One setting: its flag, variable, YAML key, default and help.
struct Setting {
  std::string name;  // flag without "--" and YAML key, e.g. "listen"
  std::string env;   // AUTOMATE_LISTEN
  std::string* value;
  std::string help;
};

// Keeps executions' states for the queue/running gauges.
class StateGauges {
 public:
  void Update(const v1::Execution& e) {
    absl::MutexLock lock(&mu_);
    if (automate::IsFinal(e.state())) {
      states_.erase(e.id());
    } else {
      states_[e.id()] = e.state();
    }
  }
  automated::Metrics::Gauges Read() {
    absl::MutexLock lock(&mu_);
    automated::Metrics::Gauges g;
    for (auto& [id, s] : states_) {
      if (s == v1::RUNNING) ++g.running; else ++g.queued;
    }
    return g;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, v1::ExecutionState> states_ ABSL_GUARDED_BY(mu_);
};

int Fail(const absl::Status& status) {
  std::cerr << "automated: " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: return 2;
    case absl::StatusCode::kNotFound: return 3;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: return 5;
    default: return 1;
  }
}

absl::StatusOr<v1::Role> ParseRole(const std::string& text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "viewer") return v1::VIEWER;
  if (lower == "operator") return v1::OPERATOR;
  if (lower == "admin") return v1::ADMIN;
  return absl::InvalidArgumentError(
      absl::StrCat("--role: \"", text, "\" is not one of viewer, operator, admin"));
}

absl::StatusOr<std::unique_ptr<automate::Store>> OpenStoreOnly(const std::string& state_dir) {
  absl::StatusOr<automate::EngineOptions> options = automate::DefaultEngineOptions(state_dir);
  if (!options.ok()) return options.status();
  return std::move(options->store);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8420", state_dir = automate::DefaultStateDir(), tls_cert, tls_key;
  std::string max_running = "16", io_threads = "2", blocking_threads = "8", commit_threads = "32";
  std::string max_body = "1Mi", read_timeout = "30s", idle_timeout = "120s", drain = "10s";
  std::string config_file;
  std::string docker_host, docker_tls_verify, docker_cert_path, docker_api_version;
  std::vector<Setting> settings = {
      {"listen", "AUTOMATE_LISTEN", &listen, "HOST:PORT to listen on; port 0 picks a free one"},
      {"state-dir", "AUTOMATE_STATE_DIR", &state_dir, "Where jobs, executions, logs, secrets and tokens live"},
      {"tls-cert", "AUTOMATE_TLS_CERT", &tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)"},
      {"tls-key", "AUTOMATE_TLS_KEY", &tls_key, "PEM private key for --tls-cert"},
      {"max-running", "AUTOMATE_MAX_RUNNING", &max_running, "Attempts running at once"},
      {"io-threads", "AUTOMATE_IO_THREADS", &io_threads, "Threads serving connections"},
      {"blocking-threads", "AUTOMATE_BLOCKING_THREADS", &blocking_threads, "Threads for reads from the engine and store (GET requests, logs)"},
      {"commit-threads", "AUTOMATE_COMMIT_THREADS", &commit_threads, "Threads for changes (POST, PUT, DELETE): each holds one until its commit is durable, and those waiting share one commit"},
      {"max-body", "AUTOMATE_MAX_BODY", &max_body, "Largest request body (413 above)"},
      {"read-timeout", "AUTOMATE_READ_TIMEOUT", &read_timeout, "Time to read one request or write one response"},
      {"idle-timeout", "AUTOMATE_IDLE_TIMEOUT", &idle_timeout, "Idle keep-alive connections are closed after this"},
      {"drain", "AUTOMATE_DRAIN", &drain, "At SIGTERM: how long in-flight requests may take"},
      {"docker-host", "DOCKER_HOST", &docker_host, "Docker Engine API for docker jobs: unix:///path or tcp://host:port (default unix:///var/run/docker.sock)"},
      {"docker-tls-verify", "DOCKER_TLS_VERIFY", &docker_tls_verify, "Non-empty: https to a tcp:// docker host, verified with the CA and client certificate in --docker-cert-path"},
      {"docker-cert-path", "DOCKER_CERT_PATH", &docker_cert_path, "Directory with ca.pem, cert.pem, key.pem (default ~/.docker)"},
      {"docker-api-version", "DOCKER_API_VERSION", &docker_api_version, "Docker Engine API version to speak (default 1.41)"},
  };

  // The YAML file is read first; its values become the defaults that the
  // environment and flags override.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) config_file = argv[i + 1];
    if (absl::StartsWith(arg, "--config=")) config_file = arg.substr(9);
  }
  if (config_file.empty()) {
    if (const char* env = std::getenv("AUTOMATE_CONFIG"); env != nullptr) config_file = env;
  }
  if (!config_file.empty()) {
    try {
      YAML::Node root = YAML::LoadFile(config_file);
      if (!root.IsMap()) {
        std::cerr << "automated: " << config_file << ": must be a mapping of settings\n";
        return 2;
      }
      for (const auto& kv : root) {
        std::string key = kv.first.as<std::string>();
        std::string dashed = absl::StrReplaceAll(key, {{"_", "-"}});
        bool known = false;
        for (Setting& s : settings) {
          if (s.name != dashed) continue;
          known = true;
          if (!kv.second.IsScalar()) {
            std::cerr << "automated: " << config_file << ":" << kv.second.Mark().line + 1 << ": "
                      << key << ": must be a single value\n";
            return 2;
          }
          *s.value = kv.second.Scalar();
        }
        if (!known) {
          std::vector<std::string> names;
          for (Setting& s : settings) names.push_back(s.name);
          std::cerr << "automated: " << config_file << ":" << kv.first.Mark().line + 1 << ": " << key
                    << ": unknown setting (expected one of " << absl::StrJoin(names, ", ") << ")\n";
          return 2;
        }
      }
    } catch (const YAML::Exception& e) {
      std::cerr << "automated: " << config_file << ": " << e.what() << "\n";
      return 2;
    }
  }

  CLI::App app{"automated: the automate daemon. Serves the engine of one state dir over HTTP "
               "(API under /v1, web page at /, /metrics). Settings: flag > environment > "
               "--config YAML file (keys as the flag names) > default."};
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.add_option("--config", config_file, "YAML file of settings (env AUTOMATE_CONFIG)");
  for (Setting& s : settings) {
    app.add_option("--" + s.name, *s.value,
                   absl::StrCat(s.help, " (env ", s.env, "; default ", s.value->empty() ? "none" : *s.value, ")"))
        ->envname(s.env);
  }
  auto* routes = app.add_subcommand("routes", "Print every route served, one `METHOD /path` per line");
  auto* token = app.add_subcommand("token", "Manage API tokens in the state dir (works while the daemon runs)");
  token->require_subcommand(1);
  std::string token_name, token_role, token_groups, token_id;
  auto* create = token->add_subcommand("create", "Create a token; prints its secret once, on stdout");
  create->add_option("--name", token_name, "Unique name, e.g. ci-deployer")->required();
  create->add_option("--role", token_role, "viewer, operator or admin")->required();
  create->add_option("--groups", token_groups, "Comma-separated groups, for jobs with allowed_groups");
  auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
  auto* revoke = token->add_subcommand("revoke", "Revoke a token by id or name");
  revoke->add_option("TOKEN", token_id, "Id or name")->required();
  CLI11_PARSE(app, argc, argv);

  if (routes->parsed()) {
    for (const automated::RouteInfo& r : automated::Routes()) std::cout << r.method << " " << r.pattern << "\n";
    std::cout << "GET /\nGET /ui/{file}\nGET /v1/openapi.json\n";
    return 0;
  }

  if (token->parsed()) {
    absl::StatusOr<std::unique_ptr<automate::Store>> store = OpenStoreOnly(state_dir);
    if (!store.ok()) return Fail(store.status());
    automated::Auth auth(store->get(), automate::Clock::Real());
    if (create->parsed()) {
      absl::StatusOr<v1::Role> role = ParseRole(token_role);
      if (!role.ok()) return Fail(role.status());
      v1::CreateTokenRequest request;
      request.set_name(token_name);
      request.set_role(*role);
      for (absl::string_view g : absl::StrSplit(token_groups, ',', absl::SkipEmpty())) {
        request.add_groups(std::string(absl::StripAsciiWhitespace(g)));
      }
      absl::StatusOr<v1::CreateTokenResponse> created = auth.CreateToken(request, "cli");
      (void)auth.Audit(nullptr, "token.create", token_name,
                       created.ok() ? absl::StrCat("role ", token_role) : "", created.ok() ? 201 : 400);
      if (!created.ok()) return Fail(created.status());
      std::cout << created->secret() << "\n";
      std::cerr << "automated: created token " << created->token().id() << " (" << token_name
                << ", " << absl::AsciiStrToLower(v1::Role_Name(*role))
                << "); the secret above is shown only once\n";
      return 0;
    }
    if (list->parsed()) {
      absl::StatusOr<std::vector<v1::Token>> tokens = auth.ListTokens();
      if (!tokens.ok()) return Fail(tokens.status());
      std::printf("%-14s %-24s %-9s %-20s %s\n", "ID", "NAME", "ROLE", "GROUPS", "STATUS");
      for (const v1::Token& t : *tokens) {
        std::printf("%-14s %-24s %-9s %-20s %s\n", t.id().c_str(), t.name().c_str(),
                    absl::AsciiStrToLower(v1::Role_Name(t.role())).c_str(),
                    absl::StrJoin(t.groups(), ",").c_str(), t.has_revoke_time() ? "revoked" : "active");
      }
      return 0;
    }
    absl::Status revoked = auth.RevokeToken(token_id);
    (void)auth.Audit(nullptr, "token.revoke", token_id, "", revoked.ok() ? 204 : 404);
    if (!revoked.ok()) return Fail(revoked);
    std::cerr << "automated: revoked " << token_id << "\n";
    return 0;
  }

  // Serve.
  automated::ServerOptions options;
  options.listen = listen;
  options.tls_cert = tls_cert;
  options.tls_key = tls_key;
  auto int_setting = [](const std::string& name, const std::string& v, int lo, int hi,
                        int* out) -> absl::Status {
    if (!absl::SimpleAtoi(v, out) || *out < lo || *out > hi) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": \"", v, "\" is not an integer from ", lo, " to ", hi));
    }
    return absl::OkStatus();
  };
  auto duration_setting = [](const std::string& name, const std::string& v, absl::Duration* out) {
    absl::StatusOr<absl::Duration> d = automate::ParseDuration(v);
    if (!d.ok() || *d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": \"", v, "\" is not a positive duration (30s, 2m)"));
    }
    *out = *d;
    return absl::OkStatus();
  };
  int max_running_n = 16;
  absl::Status bad;
  if (bad.ok()) bad = int_setting("max-running", max_running, 1, 100000, &max_running_n);
  if (bad.ok()) bad = int_setting("io-threads", io_threads, 1, 64, &options.io_threads);
  if (bad.ok()) bad = int_setting("blocking-threads", blocking_threads, 1, 256, &options.blocking_threads);
  if (bad.ok()) bad = int_setting("commit-threads", commit_threads, 1, 1024, &options.commit_threads);
  if (bad.ok()) {
    absl::StatusOr<int64_t> bytes = automate::ParseByteSize(max_body);
    if (!bytes.ok() || *bytes < 1024) {
      bad = absl::InvalidArgumentError(absl::StrCat("max-body: \"", max_body, "\" is not a byte size of at least 1Ki (such as 1Mi)"));
    } else {
      options.max_body_bytes = static_cast<uint64_t>(*bytes);
    }
  }
  if (bad.ok()) bad = duration_setting("read-timeout", read_timeout, &options.read_timeout);
  if (bad.ok()) bad = duration_setting("idle-timeout", idle_timeout, &options.idle_timeout);
  if (bad.ok()) bad = duration_setting("drain", drain, &options.drain);
  if (!bad.ok()) return Fail(bad);

  // One dispatching engine per state dir: the CLI's background engine takes
  // the same lock. Held until main returns.
  absl::StatusOr<automate::StateDirLock> state_lock =
      automate::StateDirLock::Acquire(state_dir, "stop it or use another --state-dir");
  if (!state_lock.ok()) return Fail(state_lock.status());

  // The docker executor as the settings say (flag > DOCKER_* > YAML file).
  automate::DockerExecutorOptions docker;
  docker.host = docker_host;
  docker.tls_verify = !docker_tls_verify.empty() && docker_tls_verify != "0" && docker_tls_verify != "false";
  docker.cert_path = docker_cert_path;
  docker.api_version = docker_api_version;
  absl::StatusOr<automate::EngineOptions> engine_options =
      automate::DefaultEngineOptions(state_dir, std::move(docker));
  if (!engine_options.ok()) {
    return Fail(automate::NameDockerSetting(engine_options.status(), "--docker-host",
                                            "--docker-api-version"));
  }
  engine_options->max_running = max_running_n;
  engine_options->poll_interval = absl::Milliseconds(100);  // CLI clients in local mode
  StateGauges gauges;
  automated::Metrics* metrics_ptr = nullptr;
  engine_options->on_change = [&gauges, &metrics_ptr](const v1::Execution& e) {
    gauges.Update(e);
    if (automate::IsFinal(e.state()) && metrics_ptr != nullptr) metrics_ptr->ExecutionFinished(e);
  };
  // Tokens and the audit log share the engine's store: one writer
  // connection, so an audit record and an execution commit together rather
  // than fight for SQLite's write lock. The engine owns the store and
  // outlives `auth`.
  automate::Store* store = engine_options->store.get();
  automated::Metrics metrics([&gauges] { return gauges.Read(); });
  metrics_ptr = &metrics;
  absl::StatusOr<std::unique_ptr<automate::Engine>> engine = automate::Engine::Open(std::move(*engine_options));
  if (!engine.ok()) return Fail(engine.status());
  {
    automate::ExecutionFilter active;
    active.states = {v1::PENDING, v1::QUEUED, v1::RUNNING};
    active.limit = 1000;
    if (auto page = (*engine)->ListExecutions(active); page.ok()) {
      for (const v1::Execution& e : page->executions) gauges.Update(e);
    }
  }
  automated::Auth auth(store, automate::Clock::Real());
  automated::Api api(engine->get(), store, &auth, &metrics);
  automated::Server server(options, &api, engine->get(), &metrics);
  if (absl::Status s = server.Bind(); !s.ok()) return Fail(s);
  std::cout << "automated: listening on " << server.address() << std::endl;
  std::cerr << "automated: state dir " << state_dir << "; API " << server.address() << "/v1\n";
  server.Run();
  std::cerr << "automated: stopping; running executions stay recorded for the next start\n";
  (*engine)->Shutdown();
  return 0;
}
