#include "client/remote_log_reader.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "automate/v1/api.pb.h"
#include "client/sse_parser.h"
#include "client/wire.h"
#include "util/proto_time.h"

namespace automate::internal {
namespace {

// HTTP answers that mean "the server is (re)starting or overloaded": worth
// reconnecting, like a refused connection.
bool TransientHttp(int status) { return status == 502 || status == 503 || status == 504; }

class RemoteLogReader : public LogReader {
 public:
  RemoteLogReader(std::shared_ptr<HttpTransport> transport, RemoteLogOptions options)
      : transport_(std::move(transport)),
        options_(std::move(options)),
        offset_(options_.offset),
        next_offset_(options_.offset) {}

  ~RemoteLogReader() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    cancel_.Cancel();
    if (thread_.joinable()) thread_.join();
  }

  // Starts the background thread and waits for the first answer.
  absl::Status Start() {
    thread_ = std::thread([this] { Run(); });
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](RemoteLogReader* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return r->accepted_ || r->ended_ || !r->error_.ok();
        },
        this));
    if (!accepted_ && !error_.ok()) return error_;
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(std::vector<LogChunk>* out, size_t max_bytes,
                              absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](RemoteLogReader* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                return !r->queue_.empty() || r->ended_ || !r->error_.ok();
                              },
                              this),
                          deadline);
    if (!queue_.empty()) {
      // Whole chunks, at least one, like the local readers.
      size_t n = 0, bytes = 0;
      while (!queue_.empty()) {
        LogChunk& chunk = queue_.front();
        if (n > 0 && bytes + chunk.data.size() > max_bytes) break;
        bytes += chunk.data.size();
        queued_bytes_ -= chunk.data.size();
        offset_ = chunk.offset + static_cast<int64_t>(chunk.data.size());
        out->push_back(std::move(chunk));
        queue_.pop_front();
        ++n;
      }
      return n;
    }
    if (!error_.ok()) return error_;
    if (ended_) return absl::OutOfRangeError("log: end of stream");
    return 0;
  }

  int64_t offset() const override {
    absl::MutexLock lock(&mu_);
    return offset_;
  }

 private:
  // What one connection came to.
  enum class Outcome { kEnded, kStopped, kRetry, kFatal };

  void Run() {
    absl::Duration backoff = options_.initial_backoff;
    absl::Time down_since = absl::InfinitePast();  // Since when reconnecting fails.
    while (true) {
      bool connected = false, progressed = false;
      absl::Status error;
      Outcome outcome = Connect(&connected, &progressed, &error);
      if (outcome == Outcome::kEnded || outcome == Outcome::kStopped) return;
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      if (outcome == Outcome::kFatal || !accepted_) {
        // The first request's own errors (and a server that cannot be
        // reached at all) are OpenLog's errors; later ones end the stream.
        error_ = error;
        return;
      }
      // The server is "down" from the end of the last connection it accepted.
      absl::Time now = absl::Now();
      if (connected || down_since == absl::InfinitePast()) down_since = now;
      if (progressed) backoff = options_.initial_backoff;
      if (now - down_since >= options_.give_up) {
        error_ = absl::UnavailableError(absl::StrCat(
            "lost the connection to ", transport_->base_url(), " while following the log of ",
            options_.execution_id, " and could not reconnect within ",
            absl::FormatDuration(options_.give_up), ": ", error.message()));
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
      if (stop_) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  // One request: reads events until `end`, a drop or a stop.
  Outcome Connect(bool* connected, bool* progressed, absl::Status* error) {
    HttpRequest request;
    request.target = absl::StrCat("/v1/executions/", UrlEscape(options_.execution_id), "/logs",
                                  Query()
                                      .Add("offset", absl::StrCat(next_offset_))
                                      .Add("follow", options_.follow ? "true" : "false")
                                      .str());
    request.headers.emplace_back("Accept", "text/event-stream");
    request.headers.emplace_back("Cache-Control", "no-cache");
    if (resumed_) {
      // The API's resume point; it wins over `offset`, which says the same.
      request.headers.emplace_back("Last-Event-ID", absl::StrCat(next_offset_));
    }
    request.stall_timeout = options_.stall_timeout;

    SseParser parser;
    std::vector<SseEvent> events;
    bool ended = false;
    absl::Status stream_error;
    auto on_headers = [&](const HttpResponse& response) {
      if (response.status < 200 || response.status >= 300) return;
      *connected = true;
      absl::MutexLock lock(&mu_);
      accepted_ = true;
    };
    auto on_data = [&](absl::string_view bytes) {
      events.clear();
      stream_error = parser.Feed(bytes, &events);
      if (!stream_error.ok()) return false;
      for (const SseEvent& event : events) {
        if (event.type == "log") {
          stream_error = OnLog(event);
          *progressed = true;
        } else if (event.type == "end") {
          ended = true;
        }
        if (!stream_error.ok() || ended) return false;  // Nothing to wait for after `end`.
        if (stopping()) return false;
      }
      return true;
    };
    absl::StatusOr<HttpResponse> response =
        transport_->Stream(request, on_headers, on_data, &cancel_);
    if (ended) {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      return Outcome::kEnded;
    }
    if (stopping()) return Outcome::kStopped;
    if (!stream_error.ok()) {
      *error = stream_error;
      return Outcome::kFatal;
    }
    if (!response.ok()) {
      *error = response.status();
      return response.status().code() == absl::StatusCode::kUnavailable ? Outcome::kRetry
                                                                        : Outcome::kFatal;
    }
    if (response->status >= 200 && response->status < 300) {
      *error = absl::UnavailableError("the server closed the log stream before its end");
      return Outcome::kRetry;
    }
    *error = StatusFromHttpError(response->status, response->body);
    return TransientHttp(response->status) ? Outcome::kRetry : Outcome::kFatal;
  }

  absl::Status OnLog(const SseEvent& event) {
    v1::LogRecord record;
    if (absl::Status s = ParseJsonBody(event.data, &record, "log record"); !s.ok()) return s;
    int64_t start = record.offset();
    int64_t end = start + static_cast<int64_t>(record.data().size());
    resumed_ = true;
    // Offsets make the stream idempotent: whatever a reconnect repeats is
    // dropped, and a chunk that straddles the resume point is cut there.
    if (end <= next_offset_) return absl::OkStatus();
    LogChunk chunk;
    chunk.time = FromProto(record.time());
    chunk.stream = record.stream();
    if (start < next_offset_) {
      chunk.offset = next_offset_;
      chunk.data = record.data().substr(static_cast<size_t>(next_offset_ - start));
    } else {
      chunk.offset = start;
      chunk.data = std::move(*record.mutable_data());
    }
    next_offset_ = end;
    absl::MutexLock lock(&mu_);
    // Backpressure: the connection waits while the reader is behind.
    mu_.Await(absl::Condition(
        +[](RemoteLogReader* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return r->stop_ || r->queued_bytes_ < r->options_.max_buffered_bytes;
        },
        this));
    if (stop_) return absl::OkStatus();
    queued_bytes_ += chunk.data.size();
    queue_.push_back(std::move(chunk));
    return absl::OkStatus();
  }

  bool stopping() {
    absl::MutexLock lock(&mu_);
    return stop_;
  }

  const std::shared_ptr<HttpTransport> transport_;
  const RemoteLogOptions options_;
  StreamCancel cancel_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<LogChunk> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool accepted_ ABSL_GUARDED_BY(mu_) = false;  // A 2xx answer came.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;     // The `end` event came.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  int64_t offset_ ABSL_GUARDED_BY(mu_);  // Of the next byte Read() returns.

  // The background thread's own.
  int64_t next_offset_;   // Of the next byte to take from the server.
  bool resumed_ = false;  // An event came: reconnect with Last-Event-ID.
};

}  // namespace

absl::StatusOr<std::unique_ptr<LogReader>> OpenRemoteLogReader(
    std::shared_ptr<HttpTransport> transport, RemoteLogOptions options) {
  auto reader = std::make_unique<RemoteLogReader>(std::move(transport), std::move(options));
  if (absl::Status s = reader->Start(); !s.ok()) return s;
  return reader;
}

}  // namespace automate::internal
