// HTTP over libcurl: one object per server (automated, a Docker Engine, a
// Kubernetes API server), a small pool of easy handles so that consecutive
// calls reuse their connection (keep-alive, TLS sessions), and streamed
// bodies (Server-Sent Events, container logs). TCP, TLS with an optional
// client certificate, or a unix socket.
//
// Thread-safety: HttpTransport is thread-safe; each call borrows its own
// handle. StreamCancel::Cancel may be called from any thread.
#ifndef AUTOMATE_NET_HTTP_TRANSPORT_H_
#define AUTOMATE_NET_HTTP_TRANSPORT_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace automate::internal {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // Path and query, appended to the base URL.
  // Sent as application/json when not empty. PUT and POST always send one
  // (possibly empty), so that a Content-Length is there.
  std::string body;
  HttpHeaders headers;  // In addition to the transport's own.
  // Zero: the transport's timeout. For Do(): the whole exchange (infinite:
  // no limit, for calls that block until something happens); for Stream():
  // only the connection.
  absl::Duration timeout = absl::ZeroDuration();
  // Stream(): give up on a body that sends nothing for this long; infinite:
  // never (a quiet container's log), a dead peer then shows as a closed
  // connection or through TCP keepalive.
  absl::Duration stall_timeout = absl::Seconds(60);
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // Names in lower case, values trimmed.
  std::string body;     // Stream(): only for non-2xx answers.
  // The first value of header `name` (lower case), or nullptr.
  const std::string* Header(absl::string_view name) const;
};

struct HttpTransportOptions {
  std::string base_url;  // "http(s)://host:port[/prefix]", no trailing '/'.
  // Not empty: connect to this unix socket instead; base_url then only
  // gives the Host header ("http://docker").
  std::string unix_socket;
  // How errors name the server; empty: base_url (or unix://socket).
  std::string display_name;
  std::string token;     // Bearer token; empty: none is sent.
  std::string ca_file;   // PEM CA bundle for https; empty: the system's.
  std::string client_cert_file;  // PEM client certificate for mutual TLS.
  std::string client_key_file;   // Its PEM key.
  absl::Duration timeout = absl::Seconds(30);
  HttpHeaders headers;  // Sent with every request.
  std::string user_agent = "automate-client";
};

// Stops a Stream() call from another thread.
class StreamCancel {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class HttpTransport;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  void* multi_ ABSL_GUARDED_BY(mu_) = nullptr;  // The CURLM to wake, while streaming.
};

class HttpTransport {
 public:
  explicit HttpTransport(HttpTransportOptions options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Sends `request` and returns the answer, whatever its HTTP status.
  // Transport failures: kUnavailable (cannot connect, connection lost, no
  // answer in time), kFailedPrecondition (TLS verification, bad CA file).
  // Messages name the server, never the token.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

  // Like Do(), but the body of a 2xx answer goes to `on_data` as it arrives
  // instead of into the response; `on_headers` is called once the headers
  // are in (before any data). `on_data` returning false, or `cancel`, stops
  // the transfer: kCancelled. A body that ends without the server closing it
  // properly (connection reset, truncated chunked encoding): kUnavailable.
  absl::StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                      const std::function<void(const HttpResponse&)>& on_headers,
                                      const std::function<bool(absl::string_view)>& on_data,
                                      StreamCancel* cancel);

  const std::string& base_url() const { return options_.base_url; }
  // The server as errors name it.
  const std::string& display_name() const { return display_name_; }

 private:
  struct Call;
  void* Acquire();
  void Release(void* handle);
  absl::Status Prepare(void* handle, const HttpRequest& request, Call* call, bool stream);
  absl::Status TransportError(int curl_code, const Call& call, const HttpRequest& request) const;

  const HttpTransportOptions options_;
  const std::string display_name_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL* ready for reuse.
};

}  // namespace automate::internal

#endif  // AUTOMATE_NET_HTTP_TRANSPORT_H_
