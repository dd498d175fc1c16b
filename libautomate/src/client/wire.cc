#include "client/wire.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "automate/execution.h"
#include "automate/v1/api.pb.h"
#include "google/protobuf/util/json_util.h"
#include "util/proto_time.h"

namespace automate::internal {

absl::StatusOr<std::string> NormalizeServerUrl(absl::string_view server) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server \"", server, "\": ", why, " (expected http://HOST:PORT or https://HOST:PORT)"));
  };
  absl::string_view rest = server;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return bad("not an http or https URL");
  }
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (authority.empty()) return bad("no host");
  // Credentials in the URL would end up in messages; the token has its own option.
  if (absl::StrContains(authority, '@')) return bad("user info is not supported; use a token");
  for (char c : server) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return bad("contains white space");
    }
  }
  if (absl::StrContains(path, '?') || absl::StrContains(path, '#') ||
      absl::StrContains(authority, '?') || absl::StrContains(authority, '#')) {
    return bad("must not have a query or fragment");
  }
  // Port: the part after the last ':' outside an IPv6 literal's brackets.
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != absl::string_view::npos && (bracket == absl::string_view::npos || colon > bracket)) {
    absl::string_view port = authority.substr(colon + 1);
    int number = 0;
    if (port.empty() ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
        !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return bad("bad port");
    }
    if (colon == 0) return bad("no host");
  }
  std::string url(server);
  while (absl::EndsWith(url, "/")) url.pop_back();
  return url;
}

std::string UrlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", u);
    }
  }
  return out;
}

Query& Query::Add(absl::string_view key, absl::string_view value) {
  params_.emplace_back(std::string(key), std::string(value));
  return *this;
}

std::string Query::str() const {
  if (params_.empty()) return "";
  std::string out = "?";
  for (size_t i = 0; i < params_.size(); ++i) {
    if (i > 0) out += '&';
    absl::StrAppend(&out, UrlEscape(params_[i].first), "=", UrlEscape(params_[i].second));
  }
  return out;
}

absl::StatusOr<std::string> ExecutionsQuery(const ExecutionFilter& filter) {
  if (filter.oldest_first) {
    // The API pages newest first only; reversing on the client would need
    // every page at once, so say so instead of answering something else.
    return absl::InvalidArgumentError(
        "execution filter: oldest_first is not supported by the HTTP API");
  }
  Query query;
  if (!filter.job.empty()) query.Add("job", filter.job);
  if (!filter.states.empty()) {
    std::vector<std::string> names;
    for (v1::ExecutionState state : filter.states) names.push_back(StateName(state));
    query.Add("state", absl::StrJoin(names, ","));
  }
  if (filter.since != absl::InfinitePast()) {
    query.Add("since", absl::FormatTime(absl::RFC3339_full, filter.since, absl::UTCTimeZone()));
  }
  // Always sent: the API's default (50) is not the filter's (100).
  query.Add("limit", absl::StrCat(filter.limit));
  if (!filter.page_token.empty()) query.Add("page_token", filter.page_token);
  return query.str();
}

void FilterPage(const ExecutionFilter& filter, ExecutionPage* page) {
  if (!filter.cancel_requested_only) return;
  auto& list = page->executions;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const v1::Execution& e) { return !e.cancel_requested(); }),
             list.end());
}

std::string FormatWait(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
  if (ms < 0) ms = 0;
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrFormat("%d.%03ds", ms / 1000, ms % 1000);
}

std::string ToJsonBody(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  // Serialising a valid message cannot fail; "{}" keeps the type honest anyway.
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json;
}

absl::Status ParseJsonBody(absl::string_view json, google::protobuf::Message* message,
                           absl::string_view what) {
  google::protobuf::util::JsonParseOptions options;
  // Fields added by a newer server of the same API version are no reason to
  // fail; the proto3 JSON mapping tells clients to skip them.
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("the server's answer is not a valid ", what, ": ",
                                            std::string(status.message())));
  }
  return absl::OkStatus();
}

bool StatusCodeFromName(absl::string_view name, absl::StatusCode* code) {
  for (int i = 0; i <= 16; ++i) {
    auto candidate = static_cast<absl::StatusCode>(i);
    if (absl::StatusCodeToString(candidate) == name) {
      *code = candidate;
      return true;
    }
  }
  return false;
}

absl::StatusCode StatusCodeFromHttp(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kFailedPrecondition;
    case 413:
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 416:
      return absl::StatusCode::kOutOfRange;
    case 499:
      return absl::StatusCode::kCancelled;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kInternal;
}

absl::Status StatusFromHttpError(int http_status, absl::string_view body) {
  v1::Error error;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // Newer servers may add fields.
  bool parsed = google::protobuf::util::JsonStringToMessage(
                    google::protobuf::StringPiece(body.data(), body.size()), &error, options)
                    .ok();
  absl::StatusCode code = StatusCodeFromHttp(http_status);
  if (parsed) {
    absl::StatusCode named;
    if (StatusCodeFromName(error.code(), &named) && named != absl::StatusCode::kOk) code = named;
    if (!error.message().empty()) return absl::Status(code, error.message());
  }
  // Not our server's Error (a proxy's page, an empty body): say what came back.
  std::string message = absl::StrCat("the server answered HTTP ", http_status);
  absl::string_view text = absl::StripAsciiWhitespace(body);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && !parsed && text.front() != '<') {
    absl::StrAppend(&message, ": ", text.substr(0, 200));
  }
  return absl::Status(code, message);
}

}  // namespace automate::internal
