// OpenRemoteEngine: the Engine interface over automated's HTTP API. Each
// method is one route of docs/api.md; errors come back as the server's
// Error.code and message, so callers (the CLI) cannot tell the difference
// from a local engine except where automate/client.h says.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "automate/client.h"
#include "automate/execution.h"
#include "automate/v1/api.pb.h"
#include "net/http_transport.h"
#include "client/remote_log_reader.h"
#include "client/wire.h"
#include "util/status_macros.h"

namespace automate {
namespace internal {
namespace {

// The oldest server API this client understands.
constexpr int kMinServerApiVersion = 1;
// The server API that has POST /v1/executions:batchSubmit.
constexpr int kBatchSubmitApiVersion = 2;
// Longest long poll asked for at once (the server caps it at 60 s).
constexpr absl::Duration kMaxWait = absl::Seconds(30);

absl::Status RequireName(absl::string_view what, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": must not be empty"));
  return absl::OkStatus();
}

// Sleeps until `until` (or not at all if it has passed).
void SleepUntil(absl::Time until) {
  absl::Duration left = until - absl::Now();
  if (left > absl::ZeroDuration()) absl::SleepFor(left);
}

class RemoteEngine : public Engine {
 public:
  RemoteEngine(RemoteOptions options, std::shared_ptr<HttpTransport> transport)
      : options_(std::move(options)), transport_(std::move(transport)) {}

  // --- Jobs ---------------------------------------------------------------
  absl::StatusOr<v1::Job> ApplyJob(const v1::JobSpec& spec) override {
    if (spec.name().empty()) return absl::InvalidArgumentError("name: required");
    return CallFor<v1::Job>("PUT", absl::StrCat("/v1/jobs/", UrlEscape(spec.name())),
                            ToJsonBody(spec), "Job");
  }

  absl::StatusOr<v1::Job> GetJob(absl::string_view name, int64_t version) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("job name", name));
    Query query;
    if (version != 0) query.Add("version", absl::StrCat(version));
    return CallFor<v1::Job>("GET", absl::StrCat("/v1/jobs/", UrlEscape(name), query.str()), "",
                            "Job");
  }

  absl::StatusOr<std::vector<v1::Job>> ListJobs() override {
    AUTOMATE_ASSIGN_OR_RETURN(
        auto response, CallFor<v1::ListJobsResponse>("GET", "/v1/jobs", "", "ListJobsResponse"));
    return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
  }

  absl::StatusOr<std::vector<v1::Job>> ListJobVersions(absl::string_view name) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("job name", name));
    AUTOMATE_ASSIGN_OR_RETURN(
        auto response, CallFor<v1::ListJobVersionsResponse>(
                           "GET", absl::StrCat("/v1/jobs/", UrlEscape(name), "/versions"), "",
                           "ListJobVersionsResponse"));
    std::vector<v1::Job> versions(response.versions().begin(), response.versions().end());
    // The API lists newest first; a local engine (the Store) oldest first.
    std::sort(versions.begin(), versions.end(),
              [](const v1::Job& a, const v1::Job& b) { return a.version() < b.version(); });
    return versions;
  }

  absl::Status DeleteJob(absl::string_view name) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("job name", name));
    return Call("DELETE", absl::StrCat("/v1/jobs/", UrlEscape(name)), "").status();
  }

  // --- Executions ---------------------------------------------------------
  absl::StatusOr<v1::Execution> Submit(const SubmitRequest& request) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("job name", request.job));
    // requested_by and trigger are the server's to set (from the token).
    v1::SubmitExecutionRequest body;
    body.mutable_args()->insert(request.args.begin(), request.args.end());
    body.set_job_version(request.job_version);
    return CallFor<v1::Execution>("POST",
                                  absl::StrCat("/v1/jobs/", UrlEscape(request.job), "/executions"),
                                  ToJsonBody(body), "Execution");
  }

  absl::StatusOr<std::vector<v1::Execution>> SubmitBatch(
      const std::vector<SubmitRequest>& requests) override {
    if (requests.size() > static_cast<size_t>(kMaxSubmitBatch)) {
      return absl::InvalidArgumentError(absl::StrCat("requests: at most ", kMaxSubmitBatch,
                                                     " in one batch, got ", requests.size()));
    }
    v1::BatchSubmitRequest body;
    for (size_t i = 0; i < requests.size(); ++i) {
      AUTOMATE_RETURN_IF_ERROR(Annotate(RequireName("job name", requests[i].job),
                                        absl::StrCat("requests[", i, "]")));
      v1::BatchSubmitRequest::Item* item = body.add_requests();
      item->set_job(requests[i].job);
      item->mutable_args()->insert(requests[i].args.begin(), requests[i].args.end());
      item->set_job_version(requests[i].job_version);
    }
    if (requests.empty()) return std::vector<v1::Execution>{};
    AUTOMATE_RETURN_IF_ERROR(CheckVersion());
    {
      absl::MutexLock lock(&version_mu_);
      if (server_api_version_ < kBatchSubmitApiVersion) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the server at ", transport_->base_url(), " speaks API version ", server_api_version_,
            ", and submitting a batch needs ", kBatchSubmitApiVersion, " or later; upgrade automated"));
      }
    }
    AUTOMATE_ASSIGN_OR_RETURN(
        auto response, CallFor<v1::BatchSubmitResponse>("POST", "/v1/executions:batchSubmit",
                                                        ToJsonBody(body), "BatchSubmitResponse"));
    if (response.executions_size() != static_cast<int>(requests.size())) {
      return absl::InternalError(absl::StrCat("POST /v1/executions:batchSubmit: ",
                                              requests.size(), " requests, but the server returned ",
                                              response.executions_size(), " executions"));
    }
    return std::vector<v1::Execution>(response.executions().begin(), response.executions().end());
  }

  absl::Status Cancel(absl::string_view id) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("execution id", id));
    return Call("POST", absl::StrCat("/v1/executions/", UrlEscape(id), "/cancel"), "").status();
  }

  absl::StatusOr<v1::Execution> GetExecution(absl::string_view id) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("execution id", id));
    return CallFor<v1::Execution>("GET", absl::StrCat("/v1/executions/", UrlEscape(id)), "",
                                  "Execution");
  }

  absl::StatusOr<ExecutionPage> ListExecutions(const ExecutionFilter& filter) override {
    AUTOMATE_ASSIGN_OR_RETURN(std::string query, ExecutionsQuery(filter));
    AUTOMATE_ASSIGN_OR_RETURN(
        auto response, CallFor<v1::ListExecutionsResponse>("GET", "/v1/executions" + query, "",
                                                           "ListExecutionsResponse"));
    ExecutionPage page;
    page.executions.assign(response.executions().begin(), response.executions().end());
    page.next_page_token = response.next_page_token();
    FilterPage(filter, &page);
    return page;
  }

  absl::StatusOr<v1::Execution> Wait(absl::string_view id, absl::Time deadline) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("execution id", id));
    absl::Duration backoff = absl::Milliseconds(100);
    absl::Time down_since = absl::InfinitePast();
    while (true) {
      absl::Time start = absl::Now();
      absl::Duration wait = std::min(deadline - start, kMaxWait);
      Query query;
      if (wait >= absl::Milliseconds(1)) query.Add("wait", FormatWait(wait));
      absl::Duration timeout = options_.timeout + std::max(wait, absl::ZeroDuration());
      absl::StatusOr<v1::Execution> exec =
          CallFor<v1::Execution>("GET", absl::StrCat("/v1/executions/", UrlEscape(id), query.str()),
                                 "", "Execution", timeout);
      absl::Time now = absl::Now();
      if (exec.ok()) {
        down_since = absl::InfinitePast();
        backoff = absl::Milliseconds(100);
        if (IsFinal(exec->state())) return exec;
        if (now >= deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat("execution ", id, " is not finished yet"));
        }
        // A server that answers at once although asked to wait (an older
        // one, a state change it reports) is asked again, but not in a loop.
        if (wait >= absl::Seconds(1) && now - start < absl::Milliseconds(50)) {
          SleepUntil(std::min(deadline, now + absl::Milliseconds(200)));
        }
        continue;
      }
      // A restarting server is waited for, as a log follower does; the
      // caller's deadline still ends the wait.
      if (exec.status().code() != absl::StatusCode::kUnavailable) return exec.status();
      if (down_since == absl::InfinitePast()) down_since = now;
      if (now - down_since >= options_.timeout) return exec.status();
      if (now >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("execution ", id, " is not finished yet"));
      }
      SleepUntil(std::min(deadline, now + backoff));
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
  }

  absl::StatusOr<std::unique_ptr<LogReader>> OpenLog(absl::string_view id, int64_t offset,
                                                     bool follow) override {
    if (offset < 0) return absl::InvalidArgumentError("offset: must not be negative");
    AUTOMATE_RETURN_IF_ERROR(RequireName("execution id", id));
    AUTOMATE_RETURN_IF_ERROR(CheckVersion());
    RemoteLogOptions log;
    log.execution_id = std::string(id);
    log.offset = offset;
    log.follow = follow;
    log.give_up = options_.timeout;
    log.stall_timeout = std::max(absl::Seconds(45), options_.timeout);
    return OpenRemoteLogReader(transport_, std::move(log));
  }

  // --- Secrets ------------------------------------------------------------
  absl::Status SetSecret(absl::string_view name, absl::string_view value) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("secret name", name));
    v1::SetSecretRequest body;
    body.set_value(std::string(value));
    return Call("PUT", absl::StrCat("/v1/secrets/", UrlEscape(name)), ToJsonBody(body)).status();
  }

  absl::Status DeleteSecret(absl::string_view name) override {
    AUTOMATE_RETURN_IF_ERROR(RequireName("secret name", name));
    return Call("DELETE", absl::StrCat("/v1/secrets/", UrlEscape(name)), "").status();
  }

  absl::StatusOr<std::vector<v1::SecretInfo>> ListSecrets() override {
    AUTOMATE_ASSIGN_OR_RETURN(auto response, CallFor<v1::ListSecretsResponse>(
                                                 "GET", "/v1/secrets", "", "ListSecretsResponse"));
    return std::vector<v1::SecretInfo>(response.secrets().begin(), response.secrets().end());
  }

  // --- Lifecycle ----------------------------------------------------------
  // Local-only: this process runs nothing (the count is what a background
  // engine uses to decide it is idle). Counting the server's queue would cost
  // requests in a method callers poll, and answer a different question.
  int ActiveCount() override { return 0; }
  // Nothing to stop: each call ends with its request; log readers stop when
  // they are destroyed.
  void Shutdown() override {}

 private:
  // GET /ping once: the server's API version against ours. Failures to reach
  // the server are not remembered (it may be starting); a mismatch, or a
  // server that is no automated, is.
  absl::Status CheckVersion() {
    absl::MutexLock lock(&version_mu_);
    if (version_checked_) return version_status_;
    HttpRequest request;
    request.target = "/ping";
    AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, transport_->Do(request));
    if (response.status == 404) {
      version_checked_ = true;
      version_status_ = absl::FailedPreconditionError(absl::StrCat(
          transport_->base_url(), " is not an automated server (GET /ping: HTTP 404)"));
      return version_status_;
    }
    if (response.status != 200) return StatusFromHttpError(response.status, response.body);
    v1::ServerInfo info;
    absl::Status parsed = ParseJsonBody(response.body, &info, "ServerInfo");
    int api = info.api_version();
    if (const std::string* header = response.Header("automate-api-version");
        header != nullptr && api == 0) {
      if (!absl::SimpleAtoi(*header, &api)) api = 0;
    }
    version_checked_ = true;
    server_api_version_ = api;
    if (api == 0) {
      version_status_ = absl::FailedPreconditionError(absl::StrCat(
          transport_->base_url(),
          " did not say which API version it speaks (GET /ping has no apiVersion and no "
          "Automate-Api-Version header): is it an automated server?",
          parsed.ok() ? "" : absl::StrCat(" (", parsed.message(), ")")));
      return version_status_;
    }
    std::string server =
        absl::StrCat("the server at ", transport_->base_url(), " (automated ",
                     info.version().empty() ? "?" : info.version(), ", API version ", api, ")");
    if (api < kMinServerApiVersion) {
      version_status_ = absl::FailedPreconditionError(
          absl::StrCat(server, " is older than this automate needs: it speaks client API version ",
                       kClientApiVersion, " and needs a server of API version ",
                       kMinServerApiVersion, " or later; upgrade automated"));
    } else if (info.min_client_api_version() > kClientApiVersion) {
      version_status_ = absl::FailedPreconditionError(
          absl::StrCat(server, " needs clients of API version ", info.min_client_api_version(),
                       " or later, and this automate speaks API version ", kClientApiVersion,
                       "; upgrade automate"));
    }
    return version_status_;
  }

  // One request; a non-2xx answer becomes its Error's status.
  absl::StatusOr<HttpResponse> Call(const std::string& method, std::string target, std::string body,
                                    absl::Duration timeout = absl::ZeroDuration()) {
    AUTOMATE_RETURN_IF_ERROR(CheckVersion());
    HttpRequest request;
    request.method = method;
    request.target = std::move(target);
    request.body = std::move(body);
    request.timeout = timeout;
    AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, transport_->Do(request));
    if (response.status < 200 || response.status >= 300) {
      return StatusFromHttpError(response.status, response.body);
    }
    return response;
  }

  template <typename Message>
  absl::StatusOr<Message> CallFor(const std::string& method, std::string target, std::string body,
                                  absl::string_view what,
                                  absl::Duration timeout = absl::ZeroDuration()) {
    AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response,
                              Call(method, std::move(target), std::move(body), timeout));
    Message message;
    AUTOMATE_RETURN_IF_ERROR(ParseJsonBody(response.body, &message, what));
    return message;
  }

  const RemoteOptions options_;
  const std::shared_ptr<HttpTransport> transport_;
  absl::Mutex version_mu_;
  bool version_checked_ ABSL_GUARDED_BY(version_mu_) = false;
  absl::Status version_status_ ABSL_GUARDED_BY(version_mu_);
  int server_api_version_ ABSL_GUARDED_BY(version_mu_) = 0;
};

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<Engine>> OpenRemoteEngine(RemoteOptions options) {
  AUTOMATE_ASSIGN_OR_RETURN(std::string base, internal::NormalizeServerUrl(options.server));
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout: must be positive");
  }
  for (char c : options.token) {
    // It becomes a header line; the message must not repeat it.
    if (c == '\r' || c == '\n' || c == '\0') {
      return absl::InvalidArgumentError("token: must be one line of printable characters");
    }
  }
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ca_file \"", options.ca_file, "\": cannot be read"));
  }
  internal::HttpTransportOptions transport;
  transport.base_url = base;
  transport.token = options.token;
  transport.ca_file = options.ca_file;
  transport.timeout = options.timeout;
  transport.headers = {{"Automate-Client-Api-Version", absl::StrCat(kClientApiVersion)}};
  return std::make_unique<internal::RemoteEngine>(
      std::move(options), std::make_shared<internal::HttpTransport>(std::move(transport)));
}

}  // namespace automate
