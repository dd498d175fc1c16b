#include "api.h"

#include <map>
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "automate/execution.h"
#include "automate/job.h"
#include "automate/json.h"
#include "automate/v1/api.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace automated {
namespace http = boost::beast::http;
namespace v1 = automate::v1;

namespace {


int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space only in query strings.
absl::StatusOr<std::string> UrlDecode(absl::string_view in, bool query) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return absl::InvalidArgumentError("bad percent-encoding in the URL");
      }
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad percent-encoding in the URL");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && query) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Response MakeResponse(http::status status, unsigned version, bool keep_alive) {
  Response r{status, version};
  r.set(http::field::server, "automated");
  r.set("Automate-Api-Version", std::to_string(kApiVersion));
  r.keep_alive(keep_alive);
  return r;
}

std::string ToJson(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = automate::MessageToJson(message);
  return json.ok() ? *json : "{}";
}

}  // namespace

// Every route with its handler, in one table. The log route has none: it
// returns a LogPlan (Api::Logs) that the server streams.
struct Api::Route {
  RouteInfo info;
  Response (Api::*handler)(Call&);
};

const std::vector<Api::Route>& Api::Table() {
  static const std::vector<Route> table = {
      {{"GET", "/ping", Access::kPublic}, &Api::Ping},
      {{"GET", "/metrics", Access::kPublic}, &Api::MetricsText},
      {{"GET", "/v1/jobs", Access::kViewer}, &Api::ListJobs},
      {{"GET", "/v1/jobs/{name}", Access::kViewer}, &Api::GetJob},
      {{"PUT", "/v1/jobs/{name}", Access::kAdmin}, &Api::PutJob},
      {{"DELETE", "/v1/jobs/{name}", Access::kAdmin}, &Api::DeleteJob},
      {{"GET", "/v1/jobs/{name}/versions", Access::kViewer}, &Api::JobVersions},
      {{"POST", "/v1/jobs/{name}/executions", Access::kOperator}, &Api::Submit},
      {{"POST", "/v1/executions:batchSubmit", Access::kOperator}, &Api::SubmitBatch},
      {{"GET", "/v1/executions", Access::kViewer}, &Api::ListExecutions},
      {{"GET", "/v1/executions/{id}", Access::kViewer}, &Api::GetExecution},
      {{"POST", "/v1/executions/{id}/cancel", Access::kOperator}, &Api::CancelExecution},
      {{"GET", "/v1/executions/{id}/logs", Access::kViewer}, nullptr},
      {{"GET", "/v1/history", Access::kViewer}, &Api::History},
      {{"GET", "/v1/secrets", Access::kAdmin}, &Api::ListSecrets},
      {{"PUT", "/v1/secrets/{name}", Access::kAdmin}, &Api::SetSecret},
      {{"DELETE", "/v1/secrets/{name}", Access::kAdmin}, &Api::DeleteSecret},
      {{"GET", "/v1/tokens", Access::kAdmin}, &Api::ListTokens},
      {{"POST", "/v1/tokens", Access::kAdmin}, &Api::CreateToken},
      {{"DELETE", "/v1/tokens/{id}", Access::kAdmin}, &Api::RevokeToken},
      {{"GET", "/v1/audit", Access::kAdmin}, &Api::ListAudit},
  };
  return table;
}

const std::vector<RouteInfo>& Routes() {
  static const std::vector<RouteInfo> routes = [] {
    std::vector<RouteInfo> out;
    for (const auto& route : Api::Table()) out.push_back(route.info);
    return out;
  }();
  return routes;
}

// One request being handled.
struct Api::Call {
  const Request& request;
  std::string path;
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> params;  // From the route pattern.
  const Route* route = nullptr;
  std::optional<Principal> who;

  std::string Query(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? "" : it->second;
  }
  bool HasQuery(const std::string& key) const { return query.count(key) > 0; }

  Response Json(http::status status, const google::protobuf::Message& message) const {
    return JsonBody(status, ToJson(message));
  }
  // A JSON body printed earlier (the caches).
  Response JsonBody(http::status status, std::string body) const {
    Response r = MakeResponse(status, request.version(), request.keep_alive());
    r.set(http::field::content_type, "application/json");
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
  }
  Response Empty(http::status status) const {
    Response r = MakeResponse(status, request.version(), request.keep_alive());
    r.prepare_payload();
    return r;
  }
  Response Error(const absl::Status& status) const {
    return ErrorResponse(status, request.version(), request.keep_alive());
  }
  // Parses the body into `message`; an empty body is an empty message if
  // `allow_empty`. Unknown fields and wrong types: kInvalidArgument naming them.
  absl::Status Body(google::protobuf::Message* message, bool allow_empty) const {
    absl::string_view body = request.body();
    if (absl::StripAsciiWhitespace(body).empty()) {
      if (allow_empty) return absl::OkStatus();
      return absl::InvalidArgumentError("request body: a JSON object is required");
    }
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(body), message, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request body: ", std::string(status.message())));
    }
    return absl::OkStatus();
  }
};

Api::Api(automate::Engine* engine, automate::Store* store, Auth* auth, Metrics* metrics)
    : engine_(engine), store_(store), auth_(auth), metrics_(metrics) {}

int Api::HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kOutOfRange: return 416;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

Response Api::ErrorResponse(const absl::Status& status, unsigned version, bool keep_alive) {
  v1::Error error;
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  // "field: problem" messages (job validation, body parsing) name the field.
  for (absl::string_view line : absl::StrSplit(status.message(), absl::ByAnyChar("\n;"))) {
    line = absl::StripAsciiWhitespace(line);
    size_t colon = line.find(": ");
    if (colon == absl::string_view::npos || colon == 0) continue;
    absl::string_view field = line.substr(0, colon);
    if (field.find(' ') != absl::string_view::npos) continue;
    v1::ErrorDetail* detail = error.add_details();
    detail->set_field(std::string(field));
    detail->set_problem(std::string(line.substr(colon + 2)));
  }
  Response r = MakeResponse(static_cast<http::status>(HttpStatusFor(status)), version, keep_alive);
  r.set(http::field::content_type, "application/json");
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    r.set(http::field::www_authenticate, "Bearer realm=\"automate\"");
  }
  r.body() = ToJson(error);
  r.prepare_payload();
  return r;
}

bool Api::NeverBlocks(const Request& request) {
  if (request.method() != http::verb::get) return false;
  absl::string_view target(request.target().data(), request.target().size());
  absl::string_view path = target.substr(0, target.find('?'));
  return path == "/ping" || path == "/metrics";
}

ApiResult Api::Handle(const Request& request) {
  absl::string_view target(request.target().data(), request.target().size());
  size_t q = target.find('?');
  absl::StatusOr<std::string> path = UrlDecode(target.substr(0, q), /*query=*/false);
  ApiResult result;
  if (!path.ok()) {
    result.response = ErrorResponse(path.status(), request.version(), request.keep_alive());
    return result;
  }
  Call call{request, *path, {}, {}, nullptr, std::nullopt};
  if (q != absl::string_view::npos) {
    for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      absl::StatusOr<std::string> key = UrlDecode(kv.first, true);
      absl::StatusOr<std::string> value = UrlDecode(kv.second, true);
      if (!key.ok() || !value.ok()) {
        result.response = call.Error(absl::InvalidArgumentError("bad percent-encoding in the query"));
        return result;
      }
      call.query.emplace(*key, *value);
    }
  }
  return Dispatch(call);
}

ApiResult Api::Dispatch(Call& call) {
  ApiResult result;
  std::vector<absl::string_view> parts = absl::StrSplit(call.path, '/', absl::SkipEmpty());
  const Route* path_match = nullptr;
  for (const Route& route : Table()) {
    std::vector<absl::string_view> pattern =
        absl::StrSplit(route.info.pattern, '/', absl::SkipEmpty());
    if (pattern.size() != parts.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (absl::StartsWith(pattern[i], "{")) {
        params[std::string(pattern[i].substr(1, pattern[i].size() - 2))] = std::string(parts[i]);
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    if (!ok) continue;
    path_match = &route;
    if (route.info.method != std::string(call.request.method_string())) continue;
    call.route = &route;
    call.params = std::move(params);
    break;
  }
  if (call.route == nullptr) {
    result.response = call.Error(
        path_match != nullptr
            ? absl::Status(absl::StatusCode::kUnimplemented,
                           absl::StrCat("method ", std::string(call.request.method_string()),
                                        " is not allowed on ", call.path))
            : absl::NotFoundError(absl::StrCat("no route ", call.path)));
    if (path_match != nullptr) result.response.result(http::status::method_not_allowed);
    return result;
  }
  result.route = absl::StrCat(call.route->info.method, " ", call.route->info.pattern);
  // Version check: a client too old for this server is told so.
  auto client_version = call.request.find("Automate-Client-Api-Version");
  if (client_version != call.request.end()) {
    int v = 0;
    if (!absl::SimpleAtoi(std::string(client_version->value()), &v) || v < kMinClientApiVersion) {
      result.response = call.Error(absl::FailedPreconditionError(absl::StrCat(
          "client API version ", std::string(client_version->value()),
          " is not supported by this server (automated ", kServerVersion, " needs ",
          kMinClientApiVersion, " to ", kApiVersion, "); upgrade the client")));
      result.response.result(http::status::bad_request);
      return result;
    }
  }
  const Access access = call.route->info.access;
  if (access != Access::kPublic) {
    auto header = call.request[http::field::authorization];
    std::string authorization(header.data(), header.size());
    // EventSource cannot set headers: the page passes the token in the URL,
    // on the log route only.
    if (authorization.empty() && call.HasQuery("access_token") &&
        call.route->handler == nullptr) {
      authorization = absl::StrCat("Bearer ", call.Query("access_token"));
    }
    absl::StatusOr<Principal> who = auth_->Authenticate(authorization);
    if (!who.ok()) {
      result.response = call.Error(who.status());
      return result;
    }
    call.who = std::move(*who);
    v1::Role need = access == Access::kAdmin      ? v1::ADMIN
                    : access == Access::kOperator ? v1::OPERATOR
                                                  : v1::VIEWER;
    absl::Status allowed = Auth::RequireRole(*call.who, need);
    if (!allowed.ok()) {
      result.response = call.Error(allowed);
      return result;
    }
  }
  if (call.route->handler == nullptr) {
    absl::StatusOr<LogPlan> plan = Logs(call);
    if (!plan.ok()) {
      result.response = call.Error(plan.status());
    } else {
      result.log = std::move(*plan);
    }
    return result;
  }
  result.response = (this->*call.route->handler)(call);
  return result;
}

void Api::AuditChange(Call& call, absl::string_view action, absl::string_view target,
                      absl::string_view detail, int http_status) {
  absl::Status s = auth_->Audit(call.who ? &*call.who : nullptr, action, target, detail, http_status);
  if (!s.ok()) fprintf(stderr, "automated: audit log: %s\n", std::string(s.message()).c_str());
}

Response Api::MetricsText(Call& call) {
  Response r = MakeResponse(http::status::ok, call.request.version(), call.request.keep_alive());
  r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  r.body() = metrics_->Render();
  r.prepare_payload();
  return r;
}

Response Api::Ping(Call& call) {
  v1::ServerInfo info;
  info.set_version(kServerVersion);
  info.set_api_version(kApiVersion);
  info.set_min_client_api_version(kMinClientApiVersion);
  return call.Json(http::status::ok, info);
}

// --- Jobs --------------------------------------------------------------------

Response Api::ListJobs(Call& call) {
  // Read before listing: a change made meanwhile bumps it again, so a body
  // cached under it is never taken for newer than it is.
  absl::StatusOr<int64_t> generation = store_->JobsGeneration();
  if (generation.ok()) {
    absl::MutexLock lock(&cache_mu_);
    if (jobs_generation_ == *generation) return call.JsonBody(http::status::ok, jobs_json_);
  }
  absl::StatusOr<std::vector<v1::Job>> jobs = engine_->ListJobs();
  if (!jobs.ok()) return call.Error(jobs.status());
  v1::ListJobsResponse out;
  for (v1::Job& job : *jobs) *out.add_jobs() = std::move(job);
  Response r = call.Json(http::status::ok, out);
  if (generation.ok()) {
    absl::MutexLock lock(&cache_mu_);
    jobs_generation_ = *generation;
    jobs_json_ = r.body();
  }
  return r;
}

Response Api::GetJob(Call& call) {
  int64_t version = 0;
  if (call.HasQuery("version") && (!absl::SimpleAtoi(call.Query("version"), &version) || version < 0)) {
    return call.Error(absl::InvalidArgumentError("version: must be a non-negative integer"));
  }
  absl::StatusOr<v1::Job> job = engine_->GetJob(call.params["name"], version);
  if (!job.ok()) return call.Error(job.status());
  return call.Json(http::status::ok, *job);
}

Response Api::PutJob(Call& call) {
  const std::string& name = call.params["name"];
  v1::JobSpec spec;
  absl::Status status = call.Body(&spec, /*allow_empty=*/false);
  if (status.ok() && !spec.name().empty() && spec.name() != name) {
    status = absl::InvalidArgumentError(
        absl::StrCat("name: \"", spec.name(), "\" does not match the URL's \"", name, "\""));
  }
  if (status.ok()) spec.set_name(name);
  bool existed = status.ok() && engine_->GetJob(name, 0).ok();
  absl::StatusOr<v1::Job> job = status.ok() ? engine_->ApplyJob(spec) : absl::StatusOr<v1::Job>(status);
  if (!job.ok()) {
    AuditChange(call, "job.put", name, "", HttpStatusFor(job.status()));
    return call.Error(job.status());
  }
  http::status code = existed ? http::status::ok : http::status::created;
  AuditChange(call, "job.put", name, absl::StrCat("version ", job->version()), static_cast<int>(code));
  return call.Json(code, *job);
}

Response Api::DeleteJob(Call& call) {
  const std::string& name = call.params["name"];
  absl::Status status = engine_->DeleteJob(name);
  AuditChange(call, "job.delete", name, "", status.ok() ? 204 : HttpStatusFor(status));
  if (!status.ok()) return call.Error(status);
  return call.Empty(http::status::no_content);
}

Response Api::JobVersions(Call& call) {
  absl::StatusOr<std::vector<v1::Job>> versions = engine_->ListJobVersions(call.params["name"]);
  if (!versions.ok()) return call.Error(versions.status());
  v1::ListJobVersionsResponse out;
  for (v1::Job& job : *versions) *out.add_versions() = std::move(job);
  return call.Json(http::status::ok, out);
}

// --- Executions ----------------------------------------------------------------

// May `who` run this job version? Lookup errors in the engine's own wording,
// as in local mode.
absl::Status Api::CheckRun(const Principal& who, const std::string& job, int64_t version) {
  if (job.empty()) return absl::InvalidArgumentError("job: must not be empty");
  absl::StatusOr<v1::Job> found = engine_->GetJob(job, version);
  if (found.ok()) return Auth::RequireRun(who, found->spec());
  if (found.status().code() != absl::StatusCode::kNotFound) return found.status();
  return absl::NotFoundError(version == 0
                                 ? absl::StrCat("job \"", job, "\" not found")
                                 : absl::StrCat("job \"", job, "\" has no version ", version));
}

// A submit made through the API: who and how come from the token, and its
// audit record (`audit`, filled in) commits with the execution.
automate::SubmitRequest Api::RunRequest(const Principal& who, const std::string& job,
                                        int64_t version,
                                        const google::protobuf::Map<std::string, std::string>& args,
                                        v1::AuditEntry* audit) {
  *audit = auth_->AuditEntryFor(&who, "execution.submit", "", absl::StrCat("job ", job), 201);
  automate::SubmitRequest request;
  request.job = job;
  request.job_version = version;
  request.args.insert(args.begin(), args.end());
  request.requested_by = who.name;
  request.trigger.set_kind(v1::Trigger::MANUAL);
  request.trigger.set_source("api");
  request.audit = audit;
  return request;
}

Response Api::Submit(Call& call) {
  const std::string& name = call.params["name"];
  v1::SubmitExecutionRequest body;
  absl::Status status = call.Body(&body, /*allow_empty=*/true);
  if (status.ok()) status = CheckRun(*call.who, name, body.job_version());
  v1::AuditEntry audit;
  absl::StatusOr<v1::Execution> exec =
      status.ok()
          ? engine_->Submit(RunRequest(*call.who, name, body.job_version(), body.args(), &audit))
          : absl::StatusOr<v1::Execution>(status);
  if (!exec.ok()) {  // Nothing was stored, the audit record neither.
    AuditChange(call, "execution.submit", name, "", HttpStatusFor(exec.status()));
    return call.Error(exec.status());
  }
  Response r = call.Json(http::status::created, *exec);
  r.set(http::field::location, absl::StrCat("/v1/executions/", exec->id()));
  return r;
}

// Each request is authorized as Submit() would (once per job version), then
// the engine checks them all and stores them, with an audit record each, in
// one commit.
Response Api::SubmitBatch(Call& call) {
  v1::BatchSubmitRequest body;
  absl::Status status = call.Body(&body, /*allow_empty=*/false);
  int n = body.requests_size();
  if (status.ok() && (n < 1 || n > automate::Engine::kMaxSubmitBatch)) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "requests: must hold 1 to ", automate::Engine::kMaxSubmitBatch, " requests, got ", n));
  }
  std::vector<v1::AuditEntry> audits(status.ok() ? n : 0);  // Not resized: requests point in.
  std::vector<automate::SubmitRequest> requests;
  std::map<std::pair<std::string, int64_t>, absl::Status> checked;
  for (int i = 0; status.ok() && i < n; ++i) {
    const v1::BatchSubmitRequest::Item& item = body.requests(i);
    auto key = std::make_pair(item.job(), item.job_version());
    auto it = checked.find(key);
    if (it == checked.end()) {
      it = checked.emplace(key, CheckRun(*call.who, item.job(), item.job_version())).first;
    }
    if (!it->second.ok()) {
      status = absl::Status(it->second.code(),
                            absl::StrCat("requests[", i, "]: ", it->second.message()));
      break;
    }
    requests.push_back(
        RunRequest(*call.who, item.job(), item.job_version(), item.args(), &audits[i]));
  }
  absl::StatusOr<std::vector<v1::Execution>> execs =
      status.ok() ? engine_->SubmitBatch(requests)
                  : absl::StatusOr<std::vector<v1::Execution>>(status);
  if (!execs.ok()) {  // Nothing was stored, no audit record either.
    AuditChange(call, "execution.submit", "", absl::StrCat("batch of ", n),
                HttpStatusFor(execs.status()));
    return call.Error(execs.status());
  }
  v1::BatchSubmitResponse out;
  for (v1::Execution& exec : *execs) *out.add_executions() = std::move(exec);
  return call.Json(http::status::created, out);
}

Response Api::ListExecutions(Call& call) {
  automate::ExecutionFilter filter;
  filter.job = call.Query("job");
  filter.limit = 50;
  auto [begin, end] = call.query.equal_range("state");
  for (auto it = begin; it != end; ++it) {
    for (absl::string_view name : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      absl::StatusOr<v1::ExecutionState> state = automate::ParseStateName(name);
      if (!state.ok()) {
        return call.Error(absl::InvalidArgumentError(absl::StrCat("state: ", state.status().message())));
      }
      filter.states.push_back(*state);
    }
  }
  if (call.HasQuery("since")) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, call.Query("since"), &filter.since, &error)) {
      return call.Error(absl::InvalidArgumentError(
          absl::StrCat("since: not an RFC 3339 time (2026-11-28T10:00:00Z): ", error)));
    }
  }
  if (call.HasQuery("limit") && (!absl::SimpleAtoi(call.Query("limit"), &filter.limit) ||
                                 filter.limit < 1 || filter.limit > 1000)) {
    return call.Error(absl::InvalidArgumentError("limit: must be an integer from 1 to 1000"));
  }
  filter.page_token = call.Query("page_token");
  absl::StatusOr<automate::ExecutionPage> page = engine_->ListExecutions(filter);
  if (!page.ok()) return call.Error(page.status());
  v1::ListExecutionsResponse out;
  for (v1::Execution& e : page->executions) *out.add_executions() = std::move(e);
  out.set_next_page_token(page->next_page_token);
  return call.Json(http::status::ok, out);
}

std::optional<std::string> Api::CachedFinal(const std::string& id) {
  absl::MutexLock lock(&cache_mu_);
  auto it = final_json_.find(id);
  if (it == final_json_.end()) return std::nullopt;
  return it->second;
}

Response Api::ExecutionJson(Call& call, const v1::Execution& exec) {
  Response r = call.Json(http::status::ok, exec);
  if (automate::IsFinal(exec.state())) {
    absl::MutexLock lock(&cache_mu_);
    if (final_json_.emplace(exec.id(), r.body()).second) {
      final_order_.push_back(exec.id());
      if (final_order_.size() > kFinalCacheEntries) {
        final_json_.erase(final_order_.front());
        final_order_.pop_front();
      }
    }
  }
  return r;
}

Response Api::GetExecution(Call& call) {
  const std::string& id = call.params["id"];
  if (std::optional<std::string> cached = CachedFinal(id)) {
    return call.JsonBody(http::status::ok, std::move(*cached));
  }
  if (call.HasQuery("wait")) {
    absl::StatusOr<absl::Duration> wait = automate::ParseDuration(call.Query("wait"));
    if (!wait.ok() || *wait < absl::ZeroDuration()) {
      return call.Error(absl::InvalidArgumentError("wait: must be a duration such as 30s"));
    }
    absl::StatusOr<v1::Execution> exec =
        engine_->Wait(id, absl::Now() + std::min(*wait, absl::Seconds(60)));
    if (exec.ok() || exec.status().code() != absl::StatusCode::kDeadlineExceeded) {
      if (!exec.ok()) return call.Error(exec.status());
      return ExecutionJson(call, *exec);
    }
    // Not final yet: the current state, like a plain GET.
  }
  absl::StatusOr<v1::Execution> exec = engine_->GetExecution(id);
  if (!exec.ok()) return call.Error(exec.status());
  return ExecutionJson(call, *exec);
}

Response Api::CancelExecution(Call& call) {
  const std::string& id = call.params["id"];
  absl::StatusOr<v1::Execution> exec = engine_->GetExecution(id);
  absl::Status status = exec.status();
  if (status.code() == absl::StatusCode::kNotFound) {
    // Unknown: the engine's own answer (and wording), as in local mode.
    status = engine_->Cancel(id);
    if (status.ok()) status = absl::NotFoundError(absl::StrCat("execution ", id, " not found"));
  }
  if (status.ok()) status = Auth::RequireRun(*call.who, exec->job_spec());
  if (status.ok()) status = engine_->Cancel(id);
  if (status.ok()) exec = engine_->GetExecution(id);
  AuditChange(call, "execution.cancel", id, "", status.ok() ? 202 : HttpStatusFor(status));
  if (!status.ok()) return call.Error(status);
  if (!exec.ok()) return call.Error(exec.status());
  return call.Json(http::status::accepted, *exec);
}

absl::StatusOr<LogPlan> Api::Logs(Call& call) {
  LogPlan plan;
  plan.id = call.params["id"];
  absl::StatusOr<v1::Execution> exec = engine_->GetExecution(plan.id);
  if (!exec.ok()) return exec.status();
  std::string offset = call.Query("offset");
  auto last_event = call.request.find("Last-Event-ID");
  if (last_event != call.request.end() && !last_event->value().empty()) {
    offset = std::string(last_event->value());
  }
  if (!offset.empty() && (!absl::SimpleAtoi(offset, &plan.offset) || plan.offset < 0)) {
    return absl::InvalidArgumentError("offset: must be a non-negative integer");
  }
  std::string follow = absl::AsciiStrToLower(call.Query("follow"));
  if (!follow.empty() && follow != "true" && follow != "false" && follow != "1" && follow != "0") {
    return absl::InvalidArgumentError("follow: must be true or false");
  }
  plan.follow = follow == "true" || follow == "1";
  auto accept_header = call.request[http::field::accept];
  std::string accept(accept_header.data(), accept_header.size());
  plan.sse = plan.follow || absl::StrContains(accept, "text/event-stream");
  // Errors (an offset past the end of a final log: 416) before any header.
  absl::StatusOr<std::unique_ptr<automate::LogReader>> probe =
      engine_->OpenLog(plan.id, plan.offset, plan.follow);
  if (!probe.ok()) return probe.status();
  return plan;
}

Response Api::History(Call& call) {
  absl::Duration window = absl::Hours(24 * 7);
  if (call.HasQuery("window")) {
    absl::StatusOr<absl::Duration> parsed = automate::ParseDuration(call.Query("window"));
    if (!parsed.ok() || *parsed <= absl::ZeroDuration()) {
      return call.Error(absl::InvalidArgumentError("window: must be a positive duration such as 7d or 24h"));
    }
    window = *parsed;
  }
  absl::Time since = absl::Now() - window;
  automate::ExecutionFilter filter;
  filter.job = call.Query("job");
  filter.since = since;
  filter.limit = 1000;
  struct Acc {
    std::map<std::string, int64_t> counts;
    int64_t total = 0, finished = 0, succeeded = 0;
    std::vector<double> durations;
  };
  std::map<std::string, Acc> by_job;
  // Bounded: at most 100,000 executions are summarised per request.
  for (int page = 0; page < 100; ++page) {
    absl::StatusOr<automate::ExecutionPage> got = engine_->ListExecutions(filter);
    if (!got.ok()) return call.Error(got.status());
    for (const v1::Execution& e : got->executions) {
      Acc& acc = by_job[e.job()];
      ++acc.counts[absl::AsciiStrToLower(automate::StateName(e.state()))];
      ++acc.total;
      if (!automate::IsFinal(e.state())) continue;
      ++acc.finished;
      if (e.state() == v1::SUCCEEDED) ++acc.succeeded;
      if (e.has_start_time() && e.has_end_time()) {
        acc.durations.push_back(static_cast<double>(google::protobuf::util::TimeUtil::DurationToNanoseconds(
                                    e.end_time() - e.start_time())) / 1e9);
      }
    }
    if (got->next_page_token.empty()) break;
    filter.page_token = got->next_page_token;
  }
  v1::HistoryResponse out;
  *out.mutable_since() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(since));
  for (auto& [job, acc] : by_job) {
    v1::JobHistory* h = out.add_jobs();
    h->set_job(job);
    for (auto& [state, n] : acc.counts) (*h->mutable_counts())[state] = n;
    h->set_total(acc.total);
    h->set_finished(acc.finished);
    h->set_success_rate(acc.finished > 0 ? static_cast<double>(acc.succeeded) / acc.finished : 0);
    if (!acc.durations.empty()) {
      std::sort(acc.durations.begin(), acc.durations.end());
      auto pct = [&](double p) {
        size_t i = static_cast<size_t>(p * static_cast<double>(acc.durations.size() - 1) + 0.5);
        return acc.durations[std::min(i, acc.durations.size() - 1)];
      };
      *h->mutable_duration_p50() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
          static_cast<int64_t>(pct(0.50) * 1e9));
      *h->mutable_duration_p95() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
          static_cast<int64_t>(pct(0.95) * 1e9));
    }
  }
  return call.Json(http::status::ok, out);
}

// --- Secrets -----------------------------------------------------------------

Response Api::ListSecrets(Call& call) {
  absl::StatusOr<std::vector<v1::SecretInfo>> secrets = engine_->ListSecrets();
  if (!secrets.ok()) return call.Error(secrets.status());
  v1::ListSecretsResponse out;
  for (v1::SecretInfo& s : *secrets) *out.add_secrets() = std::move(s);
  return call.Json(http::status::ok, out);
}

Response Api::SetSecret(Call& call) {
  const std::string& name = call.params["name"];
  v1::SetSecretRequest body;
  absl::Status status = call.Body(&body, /*allow_empty=*/false);
  if (status.ok()) status = engine_->SetSecret(name, body.value());
  AuditChange(call, "secret.set", name, "", status.ok() ? 204 : HttpStatusFor(status));
  if (!status.ok()) return call.Error(status);
  return call.Empty(http::status::no_content);
}

Response Api::DeleteSecret(Call& call) {
  const std::string& name = call.params["name"];
  absl::Status status = engine_->DeleteSecret(name);
  AuditChange(call, "secret.delete", name, "", status.ok() ? 204 : HttpStatusFor(status));
  if (!status.ok()) return call.Error(status);
  return call.Empty(http::status::no_content);
}

// --- Tokens and audit -----------------------------------------------------------

Response Api::ListTokens(Call& call) {
  absl::StatusOr<std::vector<v1::Token>> tokens = auth_->ListTokens();
  if (!tokens.ok()) return call.Error(tokens.status());
  v1::ListTokensResponse out;
  for (v1::Token& t : *tokens) *out.add_tokens() = std::move(t);
  return call.Json(http::status::ok, out);
}

Response Api::CreateToken(Call& call) {
  v1::CreateTokenRequest body;
  absl::Status status = call.Body(&body, /*allow_empty=*/false);
  absl::StatusOr<v1::CreateTokenResponse> created =
      status.ok() ? auth_->CreateToken(body, call.who->name)
                  : absl::StatusOr<v1::CreateTokenResponse>(status);
  AuditChange(call, "token.create", body.name(),
              created.ok() ? absl::StrCat("role ", v1::Role_Name(body.role())) : "",
              created.ok() ? 201 : HttpStatusFor(created.status()));
  if (!created.ok()) return call.Error(created.status());
  return call.Json(http::status::created, *created);
}

Response Api::RevokeToken(Call& call) {
  const std::string& id = call.params["id"];
  absl::Status status = auth_->RevokeToken(id);
  AuditChange(call, "token.revoke", id, "", status.ok() ? 204 : HttpStatusFor(status));
  if (!status.ok()) return call.Error(status);
  return call.Empty(http::status::no_content);
}

Response Api::ListAudit(Call& call) {
  int limit = 50;
  if (call.HasQuery("limit") &&
      (!absl::SimpleAtoi(call.Query("limit"), &limit) || limit < 1 || limit > 1000)) {
    return call.Error(absl::InvalidArgumentError("limit: must be an integer from 1 to 1000"));
  }
  absl::StatusOr<v1::ListAuditResponse> page = auth_->ListAudit(limit, call.Query("page_token"));
  if (!page.ok()) return call.Error(page.status());
  return call.Json(http::status::ok, *page);
}

}  // namespace automated
