// Decoding of a Docker Engine log stream (GET /containers/{id}/logs).
//
// A container without a TTY sends its output multiplexed: frames of an
// 8-byte header (1 byte stream type: 0 stdin, 1 stdout, 2 stderr; 3 zero
// bytes; 4-byte big-endian payload length) and the payload. With
// `timestamps=1` every log message starts with its time in RFC 3339 with
// nanoseconds and a space ("2026-11-28T13:16:27.123456789Z "); a long line
// may come as several messages, each with its own time.
//
// LogStreamDecoder takes the body in whatever pieces the transport delivers
// and emits each line (or piece of a line) with its stream and time. It can
// skip the first bytes of each stream: that is how a reattached observer
// resumes exactly after what the engine stored. Timestamps cannot do that:
// Podman sends them in whole seconds, so a second's lines cannot be told
// apart by time; the bytes of each stream come back identical on every read.
#ifndef AUTOMATE_EXECUTOR_DOCKER_LOG_STREAM_H_
#define AUTOMATE_EXECUTOR_DOCKER_LOG_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/v1/execution.pb.h"

namespace automate::internal {

// Parses a Docker log timestamp ("2026-11-28T13:16:27.123456789Z", any
// number of fractional digits, "Z" or a numeric offset). False if `text` is
// not one.
bool ParseDockerTimestamp(absl::string_view text, absl::Time* out);

class LogStreamDecoder {
 public:
  // `data` is one line with its '\n' or a piece of one; `time` is the
  // message's timestamp (or InfinitePast() when there was none).
  using Emit = std::function<void(v1::LogStream stream, absl::string_view data, absl::Time time)>;

  // Drops the first `skip_stdout` bytes of stdout and `skip_stderr` of
  // stderr (timestamps do not count).
  LogStreamDecoder(bool timestamps, int64_t skip_stdout, int64_t skip_stderr, Emit emit)
      : timestamps_(timestamps), skip_{skip_stdout, skip_stderr}, emit_(std::move(emit)) {}

  // Feeds the next bytes of the body. kDataLoss for a stream that is not in
  // the multiplexed format (an unknown stream type or an absurd length).
  absl::Status Add(absl::string_view bytes);

  // True when the body ended on a frame boundary.
  bool at_frame_boundary() const { return buffer_.empty(); }

  // Bytes of payload (without timestamps) seen per stream, skipped or
  // emitted: where a new read of the whole log resumes.
  int64_t stdout_bytes() const { return seen_[0]; }
  int64_t stderr_bytes() const { return seen_[1]; }
  int64_t emitted_bytes() const { return emitted_bytes_; }

 private:
  void Frame(v1::LogStream stream, absl::string_view payload);
  void Data(v1::LogStream stream, absl::string_view data, absl::Time time);

  const bool timestamps_;
  int64_t skip_[2];
  const Emit emit_;
  std::string buffer_;  // An incomplete frame.
  int64_t seen_[2] = {0, 0};
  int64_t emitted_bytes_ = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_LOG_STREAM_H_
