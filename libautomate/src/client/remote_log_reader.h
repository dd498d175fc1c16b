// A LogReader over the API's Server-Sent Events log stream
// (GET /v1/executions/{id}/logs, docs/api.md "Logs").
#ifndef AUTOMATE_CLIENT_REMOTE_LOG_READER_H_
#define AUTOMATE_CLIENT_REMOTE_LOG_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/log.h"
#include "net/http_transport.h"

namespace automate::internal {

struct RemoteLogOptions {
  std::string execution_id;
  int64_t offset = 0;
  bool follow = false;
  // After a dropped connection: how long to keep reconnecting before Read()
  // fails with kUnavailable.
  absl::Duration give_up = absl::Seconds(30);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  // A stream silent for this long is taken for dead (the server sends a
  // keepalive comment every 15 s).
  absl::Duration stall_timeout = absl::Seconds(45);
  // Chunks buffered ahead of Read(); the connection waits when full.
  size_t max_buffered_bytes = size_t{8} << 20;
};

// Connects, and returns once the server has accepted the stream: errors of
// the request itself (kNotFound, kOutOfRange past the end of a final log,
// kUnauthenticated, kUnavailable for a server that cannot be reached) are
// returned here, as a local engine's OpenLog returns them. A background
// thread then reads events into a bounded buffer; after a dropped connection
// it reconnects with Last-Event-ID (backoff from initial_backoff to
// max_backoff), so that Read() returns every byte once, in order.
absl::StatusOr<std::unique_ptr<LogReader>> OpenRemoteLogReader(
    std::shared_ptr<HttpTransport> transport, RemoteLogOptions options);

}  // namespace automate::internal

#endif  // AUTOMATE_CLIENT_REMOTE_LOG_READER_H_
