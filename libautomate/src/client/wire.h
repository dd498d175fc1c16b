// The client's side of the HTTP API's conventions (docs/api.md): the server
// URL, paths and query strings, JSON bodies, and errors back to absl::Status.
#ifndef AUTOMATE_CLIENT_WIRE_H_
#define AUTOMATE_CLIENT_WIRE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/store.h"
#include "google/protobuf/message.h"

namespace automate::internal {

// Checks a server URL ("http(s)://host[:port][/prefix]") and returns it
// without a trailing '/', ready for paths to be appended. kInvalidArgument.
absl::StatusOr<std::string> NormalizeServerUrl(absl::string_view server);

// Percent-encodes everything but RFC 3986 unreserved characters, so a name
// or id is always exactly one path segment or one query value.
std::string UrlEscape(absl::string_view text);

// Builds "?a=1&b=2" (or "" with no parameters), values escaped.
class Query {
 public:
  Query& Add(absl::string_view key, absl::string_view value);
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// The query of GET /v1/executions for `filter`. `oldest_first` has no API
// equivalent (kInvalidArgument); `cancel_requested_only` is not sent either,
// the caller filters the page (FilterPage).
absl::StatusOr<std::string> ExecutionsQuery(const ExecutionFilter& filter);
// Drops what the server cannot filter on from a page it returned.
void FilterPage(const ExecutionFilter& filter, ExecutionPage* page);

// A long-poll duration as the API writes durations: "30s", "1.500s".
// Rounded up to the millisecond, so a wait never ends early.
std::string FormatWait(absl::Duration d);

// The proto3 JSON mapping, as the API uses it (lowerCamelCase out; fields
// unknown to this client skipped in).
std::string ToJsonBody(const google::protobuf::Message& message);
// kInternal naming `what` if `json` is not a valid `message`.
absl::Status ParseJsonBody(absl::string_view json, google::protobuf::Message* message,
                           absl::string_view what);

// "NOT_FOUND" → kNotFound, ...; false if `name` is no canonical code name.
bool StatusCodeFromName(absl::string_view name, absl::StatusCode* code);
// The code of an HTTP status when the body says nothing (docs/api.md, Errors).
absl::StatusCode StatusCodeFromHttp(int http_status);
// The status of a 4xx/5xx response: its `Error` body's code and message,
// verbatim; without one, the HTTP status's code and a message naming it.
absl::Status StatusFromHttpError(int http_status, absl::string_view body);

}  // namespace automate::internal

#endif  // AUTOMATE_CLIENT_WIRE_H_
