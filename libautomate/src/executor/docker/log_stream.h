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
// and emits each record (a line or a piece of one) with its stream and time.
// It counts each stream's bytes from a start position and drops those before
// a resume position: a read of the log from some point on emits only what
// is new. It also finds the latest second the read saw and where each
// stream stood when that second began, for the next read to start there
// (`since`): timestamps in whole seconds (Podman's) cannot tell a second's
// records apart, but the bytes of each stream come back identical.
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

// Byte positions in the two output streams.
struct StreamPositions {
  int64_t stdout_bytes = 0;
  int64_t stderr_bytes = 0;
  int64_t& of(v1::LogStream stream) { return stream == v1::STDERR ? stderr_bytes : stdout_bytes; }
  bool operator==(const StreamPositions& o) const {
    return stdout_bytes == o.stdout_bytes && stderr_bytes == o.stderr_bytes;
  }
};

class LogStreamDecoder {
 public:
  // `data` is one record (a line with its '\n', or a piece of one); `time`
  // its timestamp (InfinitePast() when there was none).
  using Emit = std::function<void(v1::LogStream stream, absl::string_view data, absl::Time time)>;

  // The body starts at `start` in each stream; bytes before `resume` are
  // counted but not emitted. Timestamps do not count as bytes.
  LogStreamDecoder(bool timestamps, StreamPositions start, StreamPositions resume, Emit emit)
      : timestamps_(timestamps), position_(start), resume_(resume), emit_(std::move(emit)) {}

  // Feeds the next bytes of the body. kDataLoss for a stream that is not in
  // the multiplexed format (an unknown stream type or an absurd length).
  absl::Status Add(absl::string_view bytes);

  // True when the body ended on a frame boundary.
  bool at_frame_boundary() const { return buffer_.empty(); }

  // Where the body ended in each stream.
  const StreamPositions& position() const { return position_; }
  // The latest whole second (Unix time) of a record's timestamp, or -1; and
  // the positions just before the first record of that second.
  int64_t last_second() const { return last_second_; }
  const StreamPositions& position_at_last_second() const { return at_last_second_; }
  int64_t emitted_bytes() const { return emitted_bytes_; }

 private:
  void Frame(v1::LogStream stream, absl::string_view payload);
  void Record(v1::LogStream stream, absl::string_view data, absl::Time time);

  const bool timestamps_;
  StreamPositions position_;
  const StreamPositions resume_;
  const Emit emit_;
  std::string buffer_;  // An incomplete frame.
  std::string last_timestamp_text_;
  absl::Time last_timestamp_;
  int64_t last_second_ = -1;
  StreamPositions at_last_second_;
  int64_t emitted_bytes_ = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_LOG_STREAM_H_
