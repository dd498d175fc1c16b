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
// and emits each line (or piece of a line) with its stream and time. Lines
// at or before `resume_after` are dropped: that is how a reattached observer
// skips what the engine already stored.
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

  LogStreamDecoder(bool timestamps, absl::Time resume_after, Emit emit)
      : timestamps_(timestamps), resume_after_(resume_after), emit_(std::move(emit)) {}

  // Feeds the next bytes of the body. kDataLoss for a stream that is not in
  // the multiplexed format (an unknown stream type or an absurd length).
  absl::Status Add(absl::string_view bytes);

  // True when the body ended on a frame boundary.
  bool at_frame_boundary() const { return buffer_.empty(); }

  // The latest message timestamp seen (emitted or skipped); InfinitePast()
  // if none. A new request resumes after it.
  absl::Time last_time() const { return last_time_; }
  // Bytes of payload emitted.
  int64_t emitted_bytes() const { return emitted_bytes_; }

 private:
  void Frame(v1::LogStream stream, absl::string_view payload);

  const bool timestamps_;
  const absl::Time resume_after_;
  const Emit emit_;
  std::string buffer_;  // An incomplete frame.
  absl::Time last_time_ = absl::InfinitePast();
  int64_t emitted_bytes_ = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_LOG_STREAM_H_
