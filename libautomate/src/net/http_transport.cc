#include "net/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace automate::internal {
namespace {

// Handles kept for reuse; more concurrent calls get fresh ones.
constexpr size_t kMaxIdleHandles = 8;
// A non-2xx body is an Error message or a proxy's page, never large.
constexpr size_t kMaxErrorBody = size_t{1} << 20;

void GlobalInit() {
  // curl_global_init is not thread-safe in every libcurl; once, for good.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long Millis(absl::Duration d) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

std::string DisplayName(const HttpTransportOptions& options) {
  if (!options.display_name.empty()) return options.display_name;
  if (!options.unix_socket.empty()) return absl::StrCat("unix://", options.unix_socket);
  return options.base_url;
}

}  // namespace

const std::string* HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

void StreamCancel::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

bool StreamCancel::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

// The state of one exchange, shared with curl's callbacks.
struct HttpTransport::Call {
  CURL* handle = nullptr;
  HttpResponse response;
  bool headers_done = false;
  bool stopped = false;  // on_data said stop.
  const std::function<void(const HttpResponse&)>* on_headers = nullptr;
  const std::function<bool(absl::string_view)>* on_data = nullptr;
  curl_slist* header_list = nullptr;
  char error[CURL_ERROR_SIZE] = {0};

  ~Call() { curl_slist_free_all(header_list); }

  static size_t OnHeader(char* data, size_t size, size_t n, void* self) {
    auto* call = static_cast<Call*>(self);
    absl::string_view line(data, size * n);
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::StartsWith(line, "HTTP/")) {
      // A new status line (after a 100 Continue): start over.
      call->response.headers.clear();
      call->headers_done = false;
    } else if (line.empty()) {
      long status = 0;
      curl_easy_getinfo(call->handle, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && !call->headers_done) {
        call->headers_done = true;
        call->response.status = static_cast<int>(status);
        if (call->on_headers != nullptr && *call->on_headers) (*call->on_headers)(call->response);
      }
    } else if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
      call->response.headers.emplace_back(
          absl::AsciiStrToLower(line.substr(0, colon)),
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
    return size * n;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* self) {
    auto* call = static_cast<Call*>(self);
    absl::string_view bytes(data, size * n);
    if (call->response.status == 0) {
      long status = 0;
      curl_easy_getinfo(call->handle, CURLINFO_RESPONSE_CODE, &status);
      call->response.status = static_cast<int>(status);
    }
    bool success = call->response.status >= 200 && call->response.status < 300;
    if (success && call->on_data != nullptr) {
      if (!(*call->on_data)(bytes)) {
        call->stopped = true;
        return 0;  // Aborts the transfer (CURLE_WRITE_ERROR).
      }
      return bytes.size();
    }
    if (!success && call->response.body.size() + bytes.size() > kMaxErrorBody) return bytes.size();
    call->response.body.append(bytes.data(), bytes.size());
    return bytes.size();
  }
};

HttpTransport::HttpTransport(HttpTransportOptions options)
    : options_(std::move(options)), display_name_(DisplayName(options_)) {
  GlobalInit();
}

HttpTransport::~HttpTransport() {
  absl::MutexLock lock(&mu_);
  for (void* handle : idle_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* HttpTransport::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      // Options go, the connection cache stays: that is the keep-alive.
      curl_easy_reset(static_cast<CURL*>(handle));
      return handle;
    }
  }
  return curl_easy_init();
}

void HttpTransport::Release(void* handle) {
  if (handle == nullptr) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(handle);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

absl::Status HttpTransport::Prepare(void* raw, const HttpRequest& request, Call* call,
                                    bool stream) {
  CURL* handle = static_cast<CURL*>(raw);
  call->handle = handle;
  std::string url = absl::StrCat(options_.base_url, request.target);
  absl::Duration timeout =
      request.timeout > absl::ZeroDuration() ? request.timeout : options_.timeout;

  auto add = [call](const std::string& line) {
    call->header_list = curl_slist_append(call->header_list, line.c_str());
  };
  if (!options_.token.empty()) add(absl::StrCat("Authorization: Bearer ", options_.token));
  for (const auto& [name, value] : options_.headers) add(absl::StrCat(name, ": ", value));
  bool has_accept = false;
  for (const auto& [name, value] : request.headers) {
    has_accept = has_accept || absl::EqualsIgnoreCase(name, "Accept");
    add(absl::StrCat(name, ": ", value));
  }
  if (!has_accept) add("Accept: application/json");
  bool sends_body = request.method == "PUT" || request.method == "POST" || !request.body.empty();
  // An empty value removes curl's default (form encoding for POSTFIELDS).
  add(request.body.empty() ? "Content-Type:" : "Content-Type: application/json");
  add("Expect:");  // No 100-continue round trip for bodies over 1 KiB.

  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // Threads: no SIGALRM for DNS timeouts.
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, call->error);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, call->header_list);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
  const absl::Duration connect_timeout =
      timeout == absl::InfiniteDuration() ? options_.timeout : timeout;
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, Millis(connect_timeout));
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  if (stream) {
    // No limit on the whole transfer (a follower lasts as long as the job);
    // a dead peer is noticed by the stall limit (the server sends keepalives).
    if (request.stall_timeout != absl::InfiniteDuration()) {
      curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
      curl_easy_setopt(
          handle, CURLOPT_LOW_SPEED_TIME,
          static_cast<long>(std::max<int64_t>(1, absl::ToInt64Seconds(request.stall_timeout))));
    }
  } else if (timeout != absl::InfiniteDuration()) {
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, Millis(timeout));
  }
  if (!options_.unix_socket.empty()) {
    curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, options_.unix_socket.c_str());
  }
  if (!options_.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.client_cert_file.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
  }
  if (!options_.client_key_file.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &Call::OnHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, call);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &Call::OnBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, call);
  if (request.method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (sends_body) {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    }
  }
  return absl::OkStatus();
}

absl::Status HttpTransport::TransportError(int curl_code, const Call& call,
                                           const HttpRequest& request) const {
  auto code = static_cast<CURLcode>(curl_code);
  // curl's error buffer names host and port, never headers (so no token).
  std::string detail = call.error[0] != '\0' ? std::string(call.error) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return absl::UnavailableError(
          absl::StrCat("cannot reach the server at ", display_name_, ": ", detail));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::UnavailableError(absl::StrCat("no answer from ", display_name_, " to ",
                                                 request.method, " ", request.target, ": ",
                                                 detail));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
      // Retrying does not help: a configuration problem.
      return absl::FailedPreconditionError(
          absl::StrCat("cannot talk to the server at ", display_name_, ": ", detail));
    default:
      return absl::UnavailableError(absl::StrCat("lost the connection to ", display_name_,
                                                 " during ", request.method, " ", request.target,
                                                 ": ", detail));
  }
}

absl::StatusOr<HttpResponse> HttpTransport::Do(const HttpRequest& request) {
  void* handle = Acquire();
  if (handle == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  Call call;
  absl::Status prepared = Prepare(handle, request, &call, /*stream=*/false);
  if (!prepared.ok()) {
    Release(handle);
    return prepared;
  }
  CURLcode code = curl_easy_perform(static_cast<CURL*>(handle));
  absl::Status error = code == CURLE_OK ? absl::OkStatus() : TransportError(code, call, request);
  Release(handle);
  if (!error.ok()) return error;
  return std::move(call.response);
}

absl::StatusOr<HttpResponse> HttpTransport::Stream(
    const HttpRequest& request, const std::function<void(const HttpResponse&)>& on_headers,
    const std::function<bool(absl::string_view)>& on_data, StreamCancel* cancel) {
  void* handle = Acquire();
  if (handle == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  Call call;
  call.on_headers = &on_headers;
  call.on_data = &on_data;
  absl::Status prepared = Prepare(handle, request, &call, /*stream=*/true);
  if (!prepared.ok()) {
    Release(handle);
    return prepared;
  }
  // The multi interface, so that Cancel() can wake the wait at once
  // (curl_multi_wakeup) instead of after curl's next timeout.
  CURLM* multi = curl_multi_init();
  curl_multi_add_handle(multi, static_cast<CURL*>(handle));
  bool cancelled = false;
  {
    absl::MutexLock lock(&cancel->mu_);
    cancel->multi_ = multi;
    cancelled = cancel->cancelled_;
  }
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done && !cancelled) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    absl::MutexLock lock(&cancel->mu_);
    cancelled = cancel->cancelled_;
  }
  {
    absl::MutexLock lock(&cancel->mu_);
    cancel->multi_ = nullptr;
  }
  curl_multi_remove_handle(multi, static_cast<CURL*>(handle));
  curl_multi_cleanup(multi);
  absl::Status error;
  if (cancelled || call.stopped) {
    error = absl::CancelledError("stream cancelled");
  } else if (result != CURLE_OK) {
    error = TransportError(result, call, request);
  }
  Release(handle);
  if (!error.ok()) return error;
  return std::move(call.response);
}

}  // namespace automate::internal
