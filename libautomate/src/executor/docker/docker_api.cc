#include "executor/docker/docker_api.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

constexpr char kDefaultHost[] = "unix:///var/run/docker.sock";

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string GetString(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return "";
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : "";
}

std::map<std::string, std::string> GetStringMap(const rapidjson::Value& object, const char* name) {
  std::map<std::string, std::string> out;
  if (!object.IsObject()) return out;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return out;
  for (const auto& m : it->value.GetObject()) {
    if (m.value.IsString()) out[m.name.GetString()] = m.value.GetString();
  }
  return out;
}

// The daemon's message from an error body ({"message": "..."}), or the body.
std::string DaemonMessage(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    std::string message = GetString(doc, "message");
    if (!message.empty()) return message;
  }
  std::string text(absl::StripAsciiWhitespace(body.substr(0, 300)));
  return text.empty() ? "no message" : text;
}

// A runtime that cannot execute the container's command fails `start` with a
// 500; a retry never helps there.
bool IsCommandProblem(absl::string_view message) {
  std::string lower = absl::AsciiStrToLower(message);
  for (const char* needle :
       {"executable file not found", "no such file or directory", "permission denied",
        "exec format error", "not a directory", "unable to find user", "no users found",
        "is a directory", "command that was not found", "not found in $path"}) {
    if (absl::StrContains(lower, needle)) return true;
  }
  return false;
}

absl::Status PullError(absl::string_view image, absl::string_view message) {
  std::string text = absl::StrCat("docker: pull ", image, ": ", message);
  std::string lower = absl::AsciiStrToLower(message);
  if (absl::StrContains(lower, "denied") || absl::StrContains(lower, "unauthorized") ||
      absl::StrContains(lower, "authentication required")) {
    return absl::PermissionDeniedError(text);
  }
  if (absl::StrContains(lower, "not found") || absl::StrContains(lower, "manifest unknown") ||
      absl::StrContains(lower, "does not exist") || absl::StrContains(lower, "invalid reference")) {
    return absl::NotFoundError(text);
  }
  return absl::UnavailableError(text);
}

}  // namespace

bool VersionAtLeast(absl::string_view have, absl::string_view want) {
  // Digits only (SimpleAtoi alone would take " 1", "+1"): the /vX.Y path.
  auto number = [](absl::string_view part, int* n) {
    return !part.empty() && part.size() <= 4 &&
           std::all_of(part.begin(), part.end(), absl::ascii_isdigit) &&
           absl::SimpleAtoi(part, n);
  };
  auto parse = [&](absl::string_view v, int* major, int* minor) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(v, absl::MaxSplits('.', 1));
    return number(parts.first, major) && number(parts.second, minor);
  };
  int hm = 0, hn = 0, wm = 0, wn = 0;
  if (!parse(have, &hm, &hn) || !parse(want, &wm, &wn)) return false;
  return hm > wm || (hm == wm && hn >= wn);
}

absl::StatusOr<HttpTransportOptions> DockerTransportOptions(const DockerExecutorOptions& options) {
  HttpTransportOptions t;
  t.timeout = options.request_timeout;
  t.user_agent = "automate-docker-executor";
  const std::string host = options.host.empty() ? kDefaultHost : options.host;
  if (absl::StartsWith(host, "unix://")) {
    t.unix_socket = host.substr(7);
    if (t.unix_socket.empty() || t.unix_socket[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("docker host ", host, ": a unix socket needs an absolute path"));
    }
    t.base_url = "http://docker";
    t.display_name = host;
    return t;
  }
  if (absl::StartsWith(host, "tcp://")) {
    absl::string_view address = absl::StripSuffix(absl::string_view(host).substr(6), "/");
    if (address.empty() || absl::StrContains(address, '/')) {
      return absl::InvalidArgumentError(
          absl::StrCat("docker host ", host, ": expected tcp://host:port"));
    }
    t.display_name = host;
    if (!options.tls_verify) {
      t.base_url = absl::StrCat("http://", address);
      return t;
    }
    t.base_url = absl::StrCat("https://", address);
    std::string dir = options.cert_path;
    if (dir.empty()) {
      const char* home = std::getenv("HOME");
      dir = absl::StrCat(home != nullptr ? home : "", "/.docker");
    }
    t.ca_file = dir + "/ca.pem";
    t.client_cert_file = dir + "/cert.pem";
    t.client_key_file = dir + "/key.pem";
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "docker host \"", host, "\": must be unix:///path/to/socket or tcp://host:port"));
}

DockerApi::DockerApi(HttpTransportOptions transport, std::string api_version)
    : timeout_(transport.timeout),
      transport_(std::move(transport)),
      api_version_(std::move(api_version)) {}

std::string DockerApi::Path(absl::string_view path) const {
  return absl::StrCat("/v", api_version_, path);
}

absl::Status DockerApi::Error(const HttpResponse& response, absl::string_view what) const {
  std::string message = absl::StrCat("docker: ", what, ": ", DaemonMessage(response.body),
                                     " (HTTP ", response.status, ")");
  switch (response.status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::FailedPreconditionError(message);
    default:
      break;
  }
  if (response.status >= 500 && absl::StartsWith(what, "start") &&
      IsCommandProblem(DaemonMessage(response.body))) {
    return absl::FailedPreconditionError(message);
  }
  // Podman answers a name conflict with 500 where Docker says 409.
  if (response.status >= 500 && absl::StrContains(DaemonMessage(response.body), "already in use")) {
    return absl::FailedPreconditionError(message);
  }
  return response.status >= 500 ? absl::UnavailableError(message)
                                 : absl::UnknownError(message);
}

absl::Status DockerApi::Transport(const absl::Status& status, absl::string_view what) const {
  return absl::Status(status.code(), absl::StrCat("docker: ", what, ": ", status.message()));
}

absl::StatusOr<HttpResponse> DockerApi::Exchange(const HttpRequest& request, absl::string_view what,
                                                 std::initializer_list<int> expected) {
  absl::StatusOr<HttpResponse> response = transport_.Do(request);
  if (!response.ok()) return Transport(response.status(), what);
  for (int status : expected) {
    if (response->status == status) return response;
  }
  return Error(*response, what);
}

absl::StatusOr<std::string> DockerApi::CheckVersion() {
  HttpRequest request;
  request.target = "/version";
  AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, Exchange(request, "version", {200}));
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  std::string version = doc.HasParseError() ? "" : GetString(doc, "ApiVersion");
  if (version.empty()) {
    return absl::UnavailableError(
        absl::StrCat("docker: ", display_name(), " did not say its API version"));
  }
  if (!VersionAtLeast(version, kMinApiVersion)) {
    return absl::FailedPreconditionError(absl::StrCat("docker: ", display_name(), " speaks API ",
                                                      version, "; automate needs ",
                                                      kMinApiVersion, " or later"));
  }
  if (!VersionAtLeast(version, api_version_)) {
    return absl::FailedPreconditionError(absl::StrCat("docker: ", display_name(),
                                                      " speaks API ", version,
                                                      " at most; the docker API version asked for is ",
                                                      api_version_));
  }
  return version;
}

absl::Status DockerApi::EnsureVersion() {
  {
    absl::MutexLock lock(&version_mu_);
    if (version_checked_) return absl::OkStatus();
  }
  // Asked without the lock: with the daemon down, concurrent starts each
  // wait for their own timeout, not for everyone's in turn (a few may ask
  // at once; the answer is the same).
  absl::StatusOr<std::string> version = CheckVersion();
  // An unreachable daemon is asked again next time; a too old one is not
  // remembered either (it may be upgraded), but it fails the attempt.
  if (version.ok()) {
    absl::MutexLock lock(&version_mu_);
    version_checked_ = true;
  }
  return version.status();
}

absl::StatusOr<bool> DockerApi::ImageExists(absl::string_view image) {
  HttpRequest request;
  request.target = Path(absl::StrCat("/images/", UrlEncode(image), "/json"));
  AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, Exchange(request, "inspect image", {200, 404}));
  return response.status == 200;
}

absl::Status DockerApi::Pull(absl::string_view image, const std::string& registry_auth,
                             const std::function<void(absl::string_view)>& on_status,
                             StreamCancel* cancel) {
  // fromImage=name, tag=tag or digest.
  std::string name(image), tag = "latest";
  if (size_t at = name.find('@'); at != std::string::npos) {
    tag = name.substr(at + 1);
    name.resize(at);
  } else if (size_t colon = name.rfind(':');
             colon != std::string::npos && name.find('/', colon) == std::string::npos) {
    tag = name.substr(colon + 1);
    name.resize(colon);
  }
  HttpRequest request;
  request.method = "POST";
  request.target = Path(absl::StrCat("/images/create?fromImage=", UrlEncode(name),
                                     "&tag=", UrlEncode(tag)));
  if (!registry_auth.empty()) request.headers.emplace_back("X-Registry-Auth", registry_auth);
  request.stall_timeout = absl::Minutes(5);
  // The body is JSON objects, one per line; an {"error": ...} ends a failed pull.
  std::string pending, error;
  auto consume = [&](absl::string_view line) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) return;
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject()) return;
    std::string e = GetString(doc, "error");
    if (!e.empty()) {
      error = e;
      return;
    }
    std::string status = GetString(doc, "status");
    // Per-layer progress ("Downloading", "Extracting" with an id) is noise
    // in an execution log; the overall lines are kept.
    bool progress = doc.HasMember("progressDetail") && doc["progressDetail"].IsObject() &&
                    doc["progressDetail"].MemberCount() > 0;
    if (!status.empty() && !progress && on_status) {
      std::string id = GetString(doc, "id");
      on_status(id.empty() ? status : absl::StrCat(id, ": ", status));
    }
  };
  absl::StatusOr<HttpResponse> response = transport_.Stream(
      request, nullptr,
      [&](absl::string_view data) {
        pending.append(data.data(), data.size());
        size_t start = 0;
        for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
          consume(absl::string_view(pending).substr(start, nl - start));
        }
        pending.erase(0, start);
        return true;
      },
      cancel);
  if (!response.ok()) return Transport(response.status(), absl::StrCat("pull ", image));
  if (response->status < 200 || response->status >= 300) {
    if (response->status == 404 || response->status >= 500) {
      return PullError(image, DaemonMessage(response->body));
    }
    return Error(*response, absl::StrCat("pull ", image));
  }
  consume(pending);
  if (!error.empty()) return PullError(image, error);
  return absl::OkStatus();
}

absl::StatusOr<std::string> DockerApi::Create(absl::string_view name, const std::string& body) {
  HttpRequest request;
  request.method = "POST";
  request.target = Path(absl::StrCat("/containers/create?name=", UrlEncode(name)));
  request.body = body;
  AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response,
                            Exchange(request, "create container", {201, 200}));
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  std::string id = doc.HasParseError() ? "" : GetString(doc, "Id");
  if (id.empty()) {
    return absl::UnavailableError("docker: create container: the answer has no Id");
  }
  return id;
}

absl::Status DockerApi::Start(absl::string_view id) {
  HttpRequest request;
  request.method = "POST";
  request.target = Path(absl::StrCat("/containers/", UrlEncode(id), "/start"));
  // 304: running already.
  return Exchange(request, "start container", {204, 304, 200}).status();
}

absl::Status DockerApi::Logs(absl::string_view id, int64_t since_seconds,
                             const std::function<bool(absl::string_view)>& on_data,
                             StreamCancel* cancel) {
  HttpRequest request;
  request.target = Path(absl::StrCat("/containers/", UrlEncode(id),
                                     "/logs?stdout=1&stderr=1&timestamps=1&since=", since_seconds));
  // Podman parses the whole log file before it sends a record from its end:
  // a long log may keep the connection silent for minutes.
  request.stall_timeout = absl::InfiniteDuration();
  absl::StatusOr<HttpResponse> response = transport_.Stream(request, nullptr, on_data, cancel);
  if (!response.ok()) return Transport(response.status(), "read container log");
  if (response->status != 200) return Error(*response, "read container log");
  return absl::OkStatus();
}

absl::StatusOr<ContainerState> DockerApi::Inspect(absl::string_view id) {
  HttpRequest request;
  request.target = Path(absl::StrCat("/containers/", UrlEncode(id), "/json"));
  AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, Exchange(request, "inspect container", {200}));
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("State") ||
      !doc["State"].IsObject()) {
    return absl::UnavailableError("docker: inspect container: the answer has no State");
  }
  const rapidjson::Value& state = doc["State"];
  ContainerState out;
  out.id = GetString(doc, "Id");
  out.status = GetString(state, "Status");
  out.running = state.HasMember("Running") && state["Running"].IsBool() && state["Running"].GetBool();
  out.exit_code = state.HasMember("ExitCode") && state["ExitCode"].IsInt() ? state["ExitCode"].GetInt() : 0;
  out.oom_killed =
      state.HasMember("OOMKilled") && state["OOMKilled"].IsBool() && state["OOMKilled"].GetBool();
  out.error = GetString(state, "Error");
  if (doc.HasMember("Config")) out.labels = GetStringMap(doc["Config"], "Labels");
  return out;
}

absl::Status DockerApi::Stop(absl::string_view id, absl::Duration grace) {
  HttpRequest request;
  request.method = "POST";
  const int64_t seconds = absl::ToInt64Seconds(absl::Ceil(grace, absl::Seconds(1)));
  request.target = Path(absl::StrCat("/containers/", UrlEncode(id), "/stop?t=", seconds));
  request.timeout = absl::Seconds(seconds) + timeout_;
  // 304: not running; 404: gone.
  return Exchange(request, "stop container", {204, 304, 404}).status();
}

absl::Status DockerApi::Remove(absl::string_view id) {
  HttpRequest request;
  request.method = "DELETE";
  request.target = Path(absl::StrCat("/containers/", UrlEncode(id), "?force=1&v=1"));
  // 404: gone already; 409: a removal is already in progress.
  return Exchange(request, "remove container", {204, 200, 404, 409}).status();
}

absl::StatusOr<std::vector<ContainerSummary>> DockerApi::List(absl::string_view label,
                                                               absl::Duration timeout) {
  rapidjson::StringBuffer filters;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(filters);
    w.StartObject();
    w.Key("label");
    w.StartArray();
    w.String(label.data(), static_cast<rapidjson::SizeType>(label.size()));
    w.EndArray();
    w.EndObject();
  }
  HttpRequest request;
  request.target = Path(absl::StrCat("/containers/json?all=1&filters=", UrlEncode(filters.GetString())));
  request.timeout = timeout;
  AUTOMATE_ASSIGN_OR_RETURN(HttpResponse response, Exchange(request, "list containers", {200}));
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return absl::UnavailableError("docker: list containers: the answer is not a JSON array");
  }
  std::vector<ContainerSummary> out;
  for (const rapidjson::Value& c : doc.GetArray()) {
    ContainerSummary s;
    s.id = GetString(c, "Id");
    s.state = GetString(c, "State");
    s.labels = GetStringMap(c, "Labels");
    if (c.IsObject() && c.HasMember("Names") && c["Names"].IsArray()) {
      for (const rapidjson::Value& n : c["Names"].GetArray()) {
        if (n.IsString()) s.names.emplace_back(absl::StripPrefix(n.GetString(), "/"));
      }
    }
    if (!s.id.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::string RegistryOf(absl::string_view image) {
  size_t slash = image.find('/');
  if (slash == absl::string_view::npos) return "docker.io";
  absl::string_view first = image.substr(0, slash);
  if (absl::StrContains(first, '.') || absl::StrContains(first, ':') || first == "localhost") {
    return std::string(first);
  }
  return "docker.io";
}

absl::StatusOr<std::string> RegistryAuthHeader(absl::string_view image, absl::string_view secret) {
  std::string json;
  absl::string_view trimmed = absl::StripAsciiWhitespace(secret);
  if (absl::StartsWith(trimmed, "{")) {
    rapidjson::Document doc;
    doc.Parse(trimmed.data(), trimmed.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return absl::InvalidArgumentError(
          "registry credentials: the secret starts with '{' but is not a JSON object");
    }
    json = std::string(trimmed);
  } else {
    size_t colon = trimmed.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          "registry credentials: the secret must be \"user:password\" or a JSON object");
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    absl::string_view user = trimmed.substr(0, colon), password = trimmed.substr(colon + 1);
    std::string registry = RegistryOf(image);
    w.StartObject();
    w.Key("username");
    w.String(user.data(), static_cast<rapidjson::SizeType>(user.size()));
    w.Key("password");
    w.String(password.data(), static_cast<rapidjson::SizeType>(password.size()));
    w.Key("serveraddress");
    w.String(registry.data(), static_cast<rapidjson::SizeType>(registry.size()));
    w.EndObject();
    json = buffer.GetString();
  }
  // base64url with padding, as the docker CLI sends it.
  std::string encoded = absl::Base64Escape(json);
  for (char& c : encoded) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return encoded;
}

}  // namespace automate::internal
