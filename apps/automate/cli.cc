// The automate command line. In local mode every command opens the state dir
// as a client of the store, and work runs in the state dir's background
// engine (background_engine.h), so that `logs -f`, `status` and `cancel`
// from other shells see the same executions. In remote mode (a server from
// --server, AUTOMATE_SERVER or `automate config set-server`) the same
// commands use an Engine that talks to automated over HTTP (client.h); only
// the background engine and the `engine` command are local-only.
#include "cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "automate/automate.h"
#include "automate/client.h"
#include "background_engine.h"
#include "cli_output.h"
#include "client_config.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/time_util.h"

namespace automate::cli {
namespace {

using google::protobuf::util::TimeUtil;

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return kExitConflict;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitWaitTimeout;
    default:
      return kExitError;
  }
}

// The exit code of `run --wait/--follow` for a final execution.
int JobExitCode(const v1::Execution& exec) {
  switch (exec.state()) {
    case v1::SUCCEEDED:
      return 0;
    case v1::CANCELLED:
      return kExitJobCancelled;
    case v1::TIMED_OUT:
      return kExitJobTimedOut;
    default:
      break;
  }
  if (!exec.attempts().empty()) {
    const v1::Attempt& last = exec.attempts(exec.attempts_size() - 1);
    if (last.has_exit_code()) return last.exit_code() == 0 ? kExitJobNoCode : last.exit_code();
    if (last.has_signal()) return 128 + last.signal();
  }
  return kExitJobNoCode;
}

absl::Duration Elapsed(const v1::Execution& exec) {
  if (!exec.has_start_time()) return absl::Seconds(-1);
  absl::Time start = absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(exec.start_time()));
  absl::Time end = exec.has_end_time()
                       ? absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(exec.end_time()))
                       : absl::Now();
  return end - start;
}

std::string TriggerText(const v1::Trigger& trigger) {
  std::string kind = v1::Trigger::Kind_Name(trigger.kind());
  for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return trigger.source().empty() ? kind : absl::StrCat(kind, ":", trigger.source());
}

std::string ExecutorText(const v1::JobSpec& spec) {
  if (spec.executor().has_local()) {
    return absl::StrCat("local: ", absl::StrJoin(spec.executor().local().command(), " "));
  }
  return "-";
}

// Everything a command needs: parsed global options and the open engine.
struct Context {
  Context(std::ostream& o, std::ostream& e) : out(o), err(e) {}
  std::ostream& out;
  std::ostream& err;
  std::string state_dir;
  std::string output = "table";
  std::string self_exe;
  RemoteSettings remote_settings;  // server empty: local mode.
  std::unique_ptr<Engine> engine;

  bool remote() const { return !remote_settings.server.empty(); }

  Format format() const {
    if (output == "json") return Format::kJson;
    if (output == "yaml") return Format::kYaml;
    return Format::kTable;
  }
  // Prints `status` as "automate: message" and returns its exit code.
  int Fail(const absl::Status& status) {
    err << "automate: " << status.message() << "\n";
    if (remote() && status.code() == absl::StatusCode::kUnauthenticated) {
      // The server's message says what is wrong; this says where to fix it.
      const RemoteSettings& r = remote_settings;
      err << "automate: "
          << (r.token.empty() ? "no token is set"
                              : "the server refused the token from " + r.token_source)
          << " (server " << r.server << " from " << r.server_source
          << "); set one with --token, AUTOMATE_TOKEN or "
             "\"automate config set-server URL --token TOKEN\"\n";
    }
    return ExitCodeFor(status);
  }
  absl::Status Open() {
    if (engine != nullptr) return absl::OkStatus();
    if (remote()) {
      RemoteOptions remote_options;
      remote_options.server = remote_settings.server;
      remote_options.token = remote_settings.token;
      remote_options.ca_file = remote_settings.ca_file;
      absl::StatusOr<std::unique_ptr<Engine>> opened = OpenRemoteEngine(std::move(remote_options));
      if (!opened.ok()) return opened.status();
      engine = std::move(*opened);
      return absl::OkStatus();
    }
    absl::StatusOr<EngineOptions> options = DefaultEngineOptions(state_dir);
    if (!options.ok()) return options.status();
    options->dispatch = false;
    options->poll_interval = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<Engine>> opened = Engine::Open(std::move(*options));
    if (!opened.ok()) return opened.status();
    engine = std::move(*opened);
    return absl::OkStatus();
  }
};

// ---------------------------------------------------------------------------
// Commands

int CmdApply(Context& ctx, const std::vector<std::string>& files) {
  std::vector<v1::JobSpec> specs;
  for (const std::string& file : files) {
    absl::StatusOr<std::vector<v1::JobSpec>> parsed = LoadJobFile(file);
    if (!parsed.ok()) return ctx.Fail(parsed.status());
    specs.insert(specs.end(), parsed->begin(), parsed->end());
  }
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  for (const v1::JobSpec& spec : specs) {
    absl::StatusOr<v1::Job> before = ctx.engine->GetJob(spec.name(), 0);
    absl::StatusOr<v1::Job> job = ctx.engine->ApplyJob(spec);
    if (!job.ok()) return ctx.Fail(job.status());
    std::string what = !before.ok()                           ? "created"
                       : before->version() == job->version() ? "unchanged"
                                                               : "updated";
    ctx.out << "job " << job->spec().name() << " " << what << " (version " << job->version()
            << ")\n";
  }
  return kExitOk;
}

int CmdList(Context& ctx) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  absl::StatusOr<std::vector<v1::Job>> jobs = ctx.engine->ListJobs();
  if (!jobs.ok()) return ctx.Fail(jobs.status());
  if (ctx.format() != Format::kTable) {
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& job : *jobs) messages.push_back(&job);
    PrintMessages(ctx.out, ctx.format(), messages, true);
    return kExitOk;
  }
  Table table({"NAME", "VERSION", "PARAMS", "EXECUTOR", "DESCRIPTION"});
  for (const auto& job : *jobs) {
    table.Add({job.spec().name(), std::to_string(job.version()),
               std::to_string(job.spec().params_size()), ExecutorText(job.spec()),
               job.spec().description()});
  }
  table.Print(ctx.out);
  return kExitOk;
}

int CmdDescribe(Context& ctx, const std::string& name, int64_t version) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  absl::StatusOr<v1::Job> job = ctx.engine->GetJob(name, version);
  if (!job.ok()) return ctx.Fail(job.status());
  if (ctx.format() != Format::kTable) {
    PrintMessages(ctx.out, ctx.format(), {&*job}, false);
    return kExitOk;
  }
  const v1::JobSpec& spec = job->spec();
  ctx.out << "Name:         " << spec.name() << "\n"
          << "Version:      " << job->version() << " (" << FormatTime(job->create_time()) << ")\n"
          << "Description:  " << spec.description() << "\n"
          << "Executor:     " << ExecutorText(spec) << "\n";
  if (spec.has_timeout()) {
    ctx.out << "Timeout:      " << HumanDuration(absl::Seconds(spec.timeout().seconds())) << "\n";
  }
  ctx.out << "Retry:        " << std::max(1, spec.retry().max_attempts()) << " attempt(s)\n";
  if (spec.concurrency().limit() > 0) {
    std::string policy = v1::ConcurrencyPolicy::Policy_Name(spec.concurrency().policy());
    for (char& c : policy) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ctx.out << "Concurrency:  " << spec.concurrency().limit() << " (" << policy << ")\n";
  }
  if (!spec.secrets().empty()) {
    ctx.out << "Secrets:      " << absl::StrJoin(spec.secrets(), ", ") << "\n";
  }
  ctx.out << "\nParams:\n";
  Table table({"NAME", "REQUIRED", "DEFAULT", "DESCRIPTION"});
  for (const auto& p : spec.params()) {
    table.Add({p.name(), p.required() ? "yes" : "no", p.has_default_() ? p.default_() : "-",
               p.description()});
  }
  table.Print(ctx.out);
  return kExitOk;
}

// Streams the log of `id` from `offset` to out/err; SYSTEM lines go to err.
// `idle`, if set, runs after each second in which nothing arrived; an error
// from it ends the stream.
absl::Status StreamLog(Context& ctx, const std::string& id, int64_t offset, bool follow,
                       const std::function<absl::Status()>& idle = nullptr) {
  absl::StatusOr<std::unique_ptr<LogReader>> reader = ctx.engine->OpenLog(id, offset, follow);
  if (!reader.ok()) return reader.status();
  std::vector<LogChunk> chunks;
  while (true) {
    chunks.clear();
    absl::StatusOr<size_t> n = (*reader)->Read(&chunks, 1 << 20, absl::Now() + absl::Seconds(1));
    if (!n.ok()) {
      return n.status().code() == absl::StatusCode::kOutOfRange ? absl::OkStatus() : n.status();
    }
    if (chunks.empty() && idle) {
      if (absl::Status s = idle(); !s.ok()) return s;
    }
    for (const LogChunk& chunk : chunks) {
      std::ostream& stream = chunk.stream == v1::STDOUT ? ctx.out : ctx.err;
      stream.write(chunk.data.data(), static_cast<std::streamsize>(chunk.data.size()));
    }
    ctx.out.flush();
    ctx.err.flush();
  }
}

int CmdRun(Context& ctx, const std::string& job, const std::vector<std::string>& assignments,
           int64_t version, bool wait, bool follow) {
  SubmitRequest request;
  request.job = job;
  request.job_version = version;
  for (const std::string& a : assignments) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      ctx.err << "automate: argument \"" << a << "\": expected NAME=VALUE\n";
      return kExitUsage;
    }
    request.args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  const char* user = std::getenv("USER");
  request.requested_by = user != nullptr ? user : "";
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  absl::StatusOr<v1::Execution> exec = ctx.engine->Submit(request);
  if (!exec.ok()) return ctx.Fail(exec.status());
  if (!ctx.remote()) {
    if (absl::Status s = EnsureBackgroundEngine(ctx.state_dir, ctx.self_exe); !s.ok()) {
      return ctx.Fail(s);
    }
  }
  if (!wait && !follow) {
    ctx.out << exec->id() << "\n";
    return kExitOk;
  }
  ctx.err << "execution " << exec->id() << "\n";
  // Locally, the background engine may die while we wait (killed, out of
  // memory): every second without news, make sure one runs, as submitting
  // did, so that the next engine recovers the execution and this wait ends.
  std::function<absl::Status()> keep_engine;
  if (!ctx.remote()) {
    keep_engine = [&ctx] { return EnsureBackgroundEngine(ctx.state_dir, ctx.self_exe); };
  }
  if (follow) {
    if (absl::Status s = StreamLog(ctx, exec->id(), 0, true, keep_engine); !s.ok()) {
      return ctx.Fail(s);
    }
  }
  absl::StatusOr<v1::Execution> done;
  while (true) {
    done = ctx.engine->Wait(exec->id(), keep_engine ? absl::Now() + absl::Seconds(1)
                                                    : absl::InfiniteFuture());
    if (done.ok() || done.status().code() != absl::StatusCode::kDeadlineExceeded || !keep_engine) {
      break;
    }
    if (absl::Status s = keep_engine(); !s.ok()) return ctx.Fail(s);
  }
  if (!done.ok()) return ctx.Fail(done.status());
  if (wait && !follow) {
    if (ctx.format() != Format::kTable) {
      PrintMessages(ctx.out, ctx.format(), {&*done}, false);
    } else {
      ctx.out << done->id() << " " << StateName(done->state());
      if (!done->error().empty()) ctx.out << ": " << done->error();
      ctx.out << "\n";
    }
  } else if (done->state() != v1::SUCCEEDED) {
    ctx.err << "automate: execution " << done->id() << " " << StateName(done->state())
            << (done->error().empty() ? "" : ": " + done->error()) << "\n";
  }
  return JobExitCode(*done);
}

int CmdLogs(Context& ctx, const std::string& id, bool follow, int64_t offset) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  if (absl::Status s = StreamLog(ctx, id, offset, follow); !s.ok()) return ctx.Fail(s);
  return kExitOk;
}

void PrintStatus(Context& ctx, const v1::Execution& e) {
  ctx.out << "ID:           " << e.id() << "\n"
          << "Job:          " << e.job() << " (version " << e.job_version() << ")\n"
          << "State:        " << StateName(e.state()) << "\n";
  if (!e.error().empty()) ctx.out << "Error:        " << e.error() << "\n";
  if (e.has_exit_code()) ctx.out << "Exit code:    " << e.exit_code() << "\n";
  ctx.out << "Trigger:      " << TriggerText(e.trigger()) << "\n"
          << "Requested by: " << (e.requested_by().empty() ? "-" : e.requested_by()) << "\n"
          << "Created:      " << FormatTime(e.create_time()) << "\n"
          << "Started:      " << FormatTime(e.start_time()) << "\n"
          << "Ended:        " << FormatTime(e.end_time()) << "\n"
          << "Duration:     " << HumanDuration(Elapsed(e)) << "\n";
  if (!e.args().empty()) {
    std::map<std::string, std::string> args(e.args().begin(), e.args().end());
    ctx.out << "Args:         " << absl::StrJoin(args, " ", absl::PairFormatter("=")) << "\n";
  }
  ctx.out << "\nAttempts:\n";
  Table table({"#", "STATUS", "STARTED", "DURATION", "EXIT", "ERROR"});
  for (const auto& a : e.attempts()) {
    std::string status = v1::Attempt::Status_Name(a.status());
    for (char& c : status) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string exit = a.has_exit_code() ? std::to_string(a.exit_code())
                       : a.has_signal()  ? absl::StrCat("signal ", a.signal())
                                         : "-";
    absl::Duration d = absl::Seconds(-1);
    if (a.has_end_time()) {
      d = absl::Nanoseconds(TimeUtil::TimestampToNanoseconds(a.end_time()) -
                            TimeUtil::TimestampToNanoseconds(a.start_time()));
    }
    table.Add({std::to_string(a.number()), status, FormatTime(a.start_time()), HumanDuration(d),
               exit, a.error().empty() ? "-" : a.error()});
  }
  table.Print(ctx.out);
}

int CmdStatus(Context& ctx, const std::string& id) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  absl::StatusOr<v1::Execution> exec = ctx.engine->GetExecution(id);
  if (!exec.ok()) return ctx.Fail(exec.status());
  if (ctx.format() != Format::kTable) {
    PrintMessages(ctx.out, ctx.format(), {&*exec}, false);
  } else {
    PrintStatus(ctx, *exec);
  }
  return kExitOk;
}

int CmdCancel(Context& ctx, const std::string& id) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  if (absl::Status s = ctx.engine->Cancel(id); !s.ok()) return ctx.Fail(s);
  ctx.out << "cancel requested for " << id << "\n";
  return kExitOk;
}

int CmdHistory(Context& ctx, const std::string& job, int limit, const std::string& state) {
  ExecutionFilter filter;
  filter.job = job;
  filter.limit = limit;
  if (!state.empty()) {
    absl::StatusOr<v1::ExecutionState> parsed = ParseStateName(state);
    if (!parsed.ok()) return ctx.Fail(parsed.status());
    filter.states = {*parsed};
  }
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  if (!job.empty()) {
    absl::StatusOr<std::vector<v1::Job>> versions = ctx.engine->ListJobVersions(job);
    if (!versions.ok()) return ctx.Fail(versions.status());
  }
  absl::StatusOr<ExecutionPage> page = ctx.engine->ListExecutions(filter);
  if (!page.ok()) return ctx.Fail(page.status());
  if (ctx.format() != Format::kTable) {
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& e : page->executions) messages.push_back(&e);
    PrintMessages(ctx.out, ctx.format(), messages, true);
    return kExitOk;
  }
  Table table({"ID", "JOB", "STATE", "STARTED", "DURATION", "TRIGGER"});
  for (const auto& e : page->executions) {
    table.Add({e.id(), e.job(), StateName(e.state()), FormatTime(e.start_time()),
               HumanDuration(Elapsed(e)), TriggerText(e.trigger())});
  }
  table.Print(ctx.out);
  return kExitOk;
}

int CmdSecretSet(Context& ctx, const std::string& name) {
  std::ostringstream value;
  value << std::cin.rdbuf();
  std::string v = value.str();
  if (!v.empty() && v.back() == '\n') v.pop_back();  // `echo x |` adds one.
  if (!v.empty() && v.back() == '\r') v.pop_back();
  if (v.empty()) {
    ctx.err << "automate: secret " << name << ": the value (read from standard input) is empty\n";
    return kExitInvalid;
  }
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  if (absl::Status s = ctx.engine->SetSecret(name, v); !s.ok()) return ctx.Fail(s);
  ctx.out << "secret " << name << " set\n";
  return kExitOk;
}

int CmdSecretList(Context& ctx) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  absl::StatusOr<std::vector<v1::SecretInfo>> secrets = ctx.engine->ListSecrets();
  if (!secrets.ok()) return ctx.Fail(secrets.status());
  if (ctx.format() != Format::kTable) {
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& s : *secrets) messages.push_back(&s);
    PrintMessages(ctx.out, ctx.format(), messages, true);
    return kExitOk;
  }
  Table table({"NAME", "CREATED", "UPDATED"});
  for (const auto& s : *secrets) {
    table.Add({s.name(), FormatTime(s.create_time()), FormatTime(s.update_time())});
  }
  table.Print(ctx.out);
  return kExitOk;
}

int CmdSecretRm(Context& ctx, const std::string& name) {
  if (absl::Status s = ctx.Open(); !s.ok()) return ctx.Fail(s);
  if (absl::Status s = ctx.engine->DeleteSecret(name); !s.ok()) return ctx.Fail(s);
  ctx.out << "secret " << name << " removed\n";
  return kExitOk;
}

int CmdConfigSetServer(Context& ctx, const std::string& server,
                       const std::optional<std::string>& token,
                       const std::optional<std::string>& ca_file) {
  // The same check a remote engine makes, before anything is written.
  RemoteOptions check;
  check.server = server;
  if (ca_file.has_value()) check.ca_file = *ca_file;
  if (absl::StatusOr<std::unique_ptr<Engine>> s = OpenRemoteEngine(check); !s.ok()) {
    return ctx.Fail(s.status());
  }
  std::string path = ClientConfigPath();
  absl::StatusOr<ClientConfig> old = LoadClientConfig(path);
  if (!old.ok()) return ctx.Fail(old.status());
  ClientConfig config;
  config.server = server;
  // A token (and CA) belongs to its server: kept only if the server stays.
  bool same = old->server == server;
  config.token = token.has_value() ? *token : same ? old->token : "";
  config.ca_file = ca_file.has_value() ? *ca_file : same ? old->ca_file : "";
  if (absl::Status s = SaveClientConfig(path, config); !s.ok()) return ctx.Fail(s);
  ctx.out << "server " << server << " saved to " << path << " ("
          << (config.token.empty() ? "no token" : "token set") << ")\n";
  return kExitOk;
}

int CmdConfigShow(Context& ctx) {
  std::string path = ClientConfigPath();
  const RemoteSettings& r = ctx.remote_settings;
  if (ctx.format() != Format::kTable) {
    google::protobuf::Struct info;
    auto& fields = *info.mutable_fields();
    fields["configFile"].set_string_value(path);
    fields["server"].set_string_value(r.server);
    fields["serverSource"].set_string_value(r.server_source);
    fields["tokenSet"].set_bool_value(!r.token.empty());
    fields["tokenSource"].set_string_value(r.token_source);
    fields["caFile"].set_string_value(r.ca_file);
    if (!ctx.remote()) fields["stateDir"].set_string_value(ctx.state_dir);
    PrintMessages(ctx.out, ctx.format(), {&info}, false);
    return kExitOk;
  }
  ctx.out << "Config file:  " << path << (access(path.c_str(), F_OK) == 0 ? "" : " (none)")
          << "\n";
  if (ctx.remote()) {
    ctx.out << "Server:       " << r.server << " (from " << r.server_source << ")\n"
            << "Token:        "
            << (r.token.empty() ? "not set" : "set (from " + r.token_source + ")") << "\n";
    if (!r.ca_file.empty()) ctx.out << "CA file:      " << r.ca_file << "\n";
  } else {
    ctx.out << "Server:       - (local mode, state dir " << ctx.state_dir << ")\n";
  }
  return kExitOk;
}

std::string SelfExe(const char* argv0) {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(argv0) : path.string();
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Context ctx(out, err);
  ctx.state_dir = automate::DefaultStateDir();
  ctx.self_exe = SelfExe(argv[0]);
  CLI::App app{"automate: define, run and follow jobs, in a local state dir or on an "
               "automated server",
               "automate"};
  app.require_subcommand(1);
  app.fallthrough();  // Global options may follow the command too.
  app.add_option("--state-dir", ctx.state_dir,
                 "Where jobs, executions, logs and secrets live (env AUTOMATE_STATE_DIR; "
                 "default $XDG_DATA_HOME/automate)");
  app.add_option("-o,--output", ctx.output, "Output format for data: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  std::string flag_server, flag_token;
  auto* server_opt = app.add_option(
      "--server", flag_server,
      "automated server URL, http(s)://HOST:PORT (env AUTOMATE_SERVER; default: the config "
      "file's; empty: local mode)");
  auto* token_opt = app.add_option("--token", flag_token,
                                   "Token for the server (env AUTOMATE_TOKEN; default: the "
                                   "config file's)");

  std::vector<std::string> files;
  auto* apply = app.add_subcommand("apply", "Create or update jobs from job files");
  apply->add_option("-f,--file", files, "Job file (YAML or JSON); repeatable")->required();

  auto* list = app.add_subcommand("list", "List jobs");

  std::string job_name;
  int64_t job_version = 0;
  auto* describe = app.add_subcommand("describe", "Show a job and its params");
  describe->add_option("JOB", job_name, "Job name")->required();
  describe->add_option("--job-version", job_version, "A past version (default: latest)");

  std::vector<std::string> assignments;
  bool wait = false, follow = false;
  auto* run = app.add_subcommand("run", "Start an execution; prints its id");
  run->add_option("JOB", job_name, "Job name")->required();
  run->add_option("ARGS", assignments, "Params as NAME=VALUE");
  run->add_option("--job-version", job_version, "Run a past version of the job definition");
  run->add_flag("--wait", wait, "Wait for the end; exit with the job's status");
  run->add_flag("--follow", follow, "Stream the logs; exit with the job's status");

  std::string id;
  bool logs_follow = false;
  int64_t offset = 0;
  auto* logs = app.add_subcommand("logs", "Print an execution's logs");
  logs->add_option("ID", id, "Execution id")->required();
  logs->add_flag("-f,--follow", logs_follow, "Follow until the execution ends");
  logs->add_option("--offset", offset, "Start at this byte offset");

  auto* status = app.add_subcommand("status", "Show an execution");
  status->add_option("ID", id, "Execution id")->required();
  auto* cancel = app.add_subcommand("cancel", "Cancel an execution");
  cancel->add_option("ID", id, "Execution id")->required();

  int limit = 20;
  std::string state;
  auto* history = app.add_subcommand("history", "Past and current executions, newest first");
  history->add_option("JOB", job_name, "Only this job");
  history->add_option("--limit", limit, "At most this many (1-1000)")->check(CLI::Range(1, 1000));
  history->add_option("--state", state, "Only this state (succeeded, failed, ...)");

  std::string secret_name;
  auto* secret = app.add_subcommand("secret", "Manage secrets");
  secret->require_subcommand(1);
  auto* secret_set = secret->add_subcommand("set", "Set a secret; the value is read from stdin");
  secret_set->add_option("NAME", secret_name, "Secret name")->required();
  auto* secret_list = secret->add_subcommand("list", "List secret names (never values)");
  auto* secret_rm = secret->add_subcommand("rm", "Remove a secret");
  secret_rm->add_option("NAME", secret_name, "Secret name")->required();

  std::string idle = "30s";
  int max_running = 16;
  auto* engine = app.add_subcommand("engine", "Run the state dir's engine in the foreground "
                                              "(the CLI starts it on demand)");
  engine->add_option("--idle-exit", idle, "Exit after being idle this long (0: never)");
  engine->add_option("--max-running", max_running, "Attempts running at once")
      ->check(CLI::Range(1, 100000));

  std::string config_server, config_token, config_ca;
  auto* config = app.add_subcommand("config", "The CLI's settings: which server to use");
  config->require_subcommand(1);
  auto* set_server = config->add_subcommand(
      "set-server", "Use an automated server from now on (writes " + ClientConfigPath() + ")");
  set_server->add_option("URL", config_server, "http(s)://HOST:PORT")->required();
  auto* set_token = set_server->add_option(
      "--token", config_token,
      "Token to send (default: keep the current one if the server is the same)");
  auto* set_ca = set_server->add_option("--ca-file", config_ca, "PEM CA bundle for https");
  auto* config_show = config->add_subcommand("show", "Show the server in use and whether a "
                                                     "token is set (never the token)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? kExitOk : kExitUsage;  // --help: 0; else CLI11 uses 1xx.
  }
  if (set_server->parsed()) {
    return CmdConfigSetServer(
        ctx, config_server,
        set_token->count() > 0 ? std::optional<std::string>(config_token) : std::nullopt,
        set_ca->count() > 0 ? std::optional<std::string>(config_ca) : std::nullopt);
  }
  {
    ClientConfig file;
    // The file is read unless both flags make it moot.
    if (server_opt->count() == 0 || token_opt->count() == 0) {
      absl::StatusOr<ClientConfig> loaded = LoadClientConfig(ClientConfigPath());
      if (!loaded.ok()) return ctx.Fail(loaded.status());
      file = std::move(*loaded);
    }
    ctx.remote_settings = ResolveRemoteSettings(
        server_opt->count() > 0 ? std::optional<std::string>(flag_server) : std::nullopt,
        token_opt->count() > 0 ? std::optional<std::string>(flag_token) : std::nullopt, file);
  }
  if (config_show->parsed()) return CmdConfigShow(ctx);
  if (engine->parsed() && ctx.remote()) {
    ctx.err << "automate: engine: runs a local state dir's engine, but a server is configured ("
            << ctx.remote_settings.server << " from " << ctx.remote_settings.server_source
            << "); use --server \"\" for local mode\n";
    return kExitUsage;
  }
  if (apply->parsed()) return CmdApply(ctx, files);
  if (list->parsed()) return CmdList(ctx);
  if (describe->parsed()) return CmdDescribe(ctx, job_name, job_version);
  if (run->parsed()) return CmdRun(ctx, job_name, assignments, job_version, wait, follow);
  if (logs->parsed()) return CmdLogs(ctx, id, logs_follow, offset);
  if (status->parsed()) return CmdStatus(ctx, id);
  if (cancel->parsed()) return CmdCancel(ctx, id);
  if (history->parsed()) return CmdHistory(ctx, job_name, limit, state);
  if (secret_set->parsed()) return CmdSecretSet(ctx, secret_name);
  if (secret_list->parsed()) return CmdSecretList(ctx);
  if (secret_rm->parsed()) return CmdSecretRm(ctx, secret_name);
  if (engine->parsed()) {
    absl::Duration idle_exit = absl::ZeroDuration();
    if (idle != "0") {
      absl::StatusOr<absl::Duration> parsed = ParseDuration(idle);
      if (!parsed.ok()) return ctx.Fail(parsed.status());
      idle_exit = *parsed;
    }
    absl::Status s = ServeEngine(ctx.state_dir, idle_exit, max_running);
    return s.ok() ? kExitOk : ctx.Fail(s);
  }
  return kExitUsage;
}

}  // namespace automate::cli
