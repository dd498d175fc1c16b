#include "executor/docker/log_stream.h"

#include <algorithm>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace automate::internal {
namespace {

constexpr size_t kHeaderBytes = 8;
// Docker sends frames of at most 32 KiB; anything near this is not a frame.
constexpr uint32_t kMaxFrameBytes = 16u << 20;
// "2026-11-28T13:16:27.123456789+00:00" is 35 characters.
constexpr size_t kMaxTimestampBytes = 40;

}  // namespace

bool ParseDockerTimestamp(absl::string_view text, absl::Time* out) {
  if (text.size() < 20 || text.size() > kMaxTimestampBytes || text[4] != '-' || text[10] != 'T') {
    return false;
  }
  std::string error;
  return absl::ParseTime("%Y-%m-%dT%H:%M:%E*S%Ez", text, out, &error);
}

namespace {

// Checks a frame header; the payload length.
absl::StatusOr<uint32_t> FrameLength(absl::string_view header) {
  const auto* h = reinterpret_cast<const unsigned char*>(header.data());
  if (h[0] > 2 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
    return absl::DataLossError(absl::StrCat(
        "the log stream is not in Docker's multiplexed format (frame header ",
        static_cast<int>(h[0]), " ", static_cast<int>(h[1]), " ", static_cast<int>(h[2]), " ",
        static_cast<int>(h[3]), ")"));
  }
  const uint32_t length =
      (uint32_t{h[4]} << 24) | (uint32_t{h[5]} << 16) | (uint32_t{h[6]} << 8) | h[7];
  if (length > kMaxFrameBytes) {
    return absl::DataLossError(
        absl::StrCat("the log stream has a frame of ", length, " bytes; not Docker's format"));
  }
  return length;
}

v1::LogStream StreamOf(absl::string_view header) {
  return header[0] == 2 ? v1::STDERR : v1::STDOUT;  // stdin (0) echoes count as stdout
}

}  // namespace

absl::Status LogStreamDecoder::Add(absl::string_view bytes) {
  while (!bytes.empty()) {
    if (buffer_.empty()) {
      // Whole frames straight from `bytes`; only a frame cut by the
      // transport is copied.
      if (bytes.size() >= kHeaderBytes) {
        absl::StatusOr<uint32_t> length = FrameLength(bytes);
        if (!length.ok()) return length.status();
        if (bytes.size() >= kHeaderBytes + *length) {
          Frame(StreamOf(bytes), bytes.substr(kHeaderBytes, *length));
          bytes.remove_prefix(kHeaderBytes + *length);
          continue;
        }
      }
      buffer_.assign(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    if (buffer_.size() < kHeaderBytes) {
      const size_t take = std::min(kHeaderBytes - buffer_.size(), bytes.size());
      buffer_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (buffer_.size() < kHeaderBytes) return absl::OkStatus();
    }
    absl::StatusOr<uint32_t> length = FrameLength(buffer_);
    if (!length.ok()) return length.status();
    const size_t total = kHeaderBytes + *length;
    const size_t take = std::min(total - buffer_.size(), bytes.size());
    buffer_.append(bytes.data(), take);
    bytes.remove_prefix(take);
    if (buffer_.size() == total) {
      Frame(StreamOf(buffer_), absl::string_view(buffer_).substr(kHeaderBytes));
      buffer_.clear();
    }
  }
  return absl::OkStatus();
}

void LogStreamDecoder::Record(v1::LogStream stream, absl::string_view data, absl::Time time) {
  if (time != absl::InfinitePast()) {
    const int64_t second = absl::ToUnixSeconds(time);
    if (second > last_second_) {
      last_second_ = second;
      at_last_second_ = position_;
    }
  }
  int64_t& position = position_.of(stream);
  const int64_t resume = stream == v1::STDERR ? resume_.stderr_bytes : resume_.stdout_bytes;
  const int64_t begin = position;
  position += static_cast<int64_t>(data.size());
  if (position <= resume) return;
  if (begin < resume) data.remove_prefix(static_cast<size_t>(resume - begin));
  emitted_bytes_ += static_cast<int64_t>(data.size());
  emit_(stream, data, time);
}

void LogStreamDecoder::Frame(v1::LogStream stream, absl::string_view payload) {
  if (!timestamps_) {
    if (!payload.empty()) Record(stream, payload, absl::InfinitePast());
    return;
  }
  // One record per frame (Docker; Podman too, a partial write being a
  // record of its own); tolerated: several lines in one frame. Each record
  // starts with its timestamp.
  size_t pos = 0;
  while (pos < payload.size()) {
    absl::Time time = absl::InfinitePast();
    size_t space = payload.find(' ', pos);
    if (space != absl::string_view::npos && space - pos <= kMaxTimestampBytes &&
        ParseDockerTimestamp(payload.substr(pos, space - pos), &time)) {
      pos = space + 1;
    }
    size_t newline = payload.find('\n', pos);
    size_t end = newline == absl::string_view::npos ? payload.size() : newline + 1;
    if (end > pos) Record(stream, payload.substr(pos, end - pos), time);
    pos = end;
  }
}

}  // namespace automate::internal
