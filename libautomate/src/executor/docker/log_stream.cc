#include "executor/docker/log_stream.h"

#include <algorithm>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace automate::internal {
namespace {

constexpr size_t kHeaderBytes = 8;
// Docker sends frames of at most 32 KiB; anything near this is not a frame.
constexpr uint32_t kMaxFrameBytes = 16u << 20;
// "2026-11-28T13:16:27.123456789+00:00" is 35 characters.
constexpr size_t kMaxTimestampBytes = 40;

}  // namespace

namespace {

// Reads exactly `n` digits at `*pos`; false if they are not all digits.
bool Digits(absl::string_view text, size_t* pos, size_t n, int* out) {
  if (*pos + n > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

}  // namespace

// By hand rather than absl::ParseTime: a log has one timestamp per record,
// millions of them, and the generic parser costs microseconds each.
bool ParseDockerTimestamp(absl::string_view text, absl::Time* out) {
  if (text.size() < 20 || text.size() > kMaxTimestampBytes) return false;
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  auto expect = [&](char c) { return pos < text.size() && text[pos++] == c; };
  if (!Digits(text, &pos, 4, &year) || !expect('-') || !Digits(text, &pos, 2, &month) ||
      !expect('-') || !Digits(text, &pos, 2, &day) || !expect('T') ||
      !Digits(text, &pos, 2, &hour) || !expect(':') || !Digits(text, &pos, 2, &minute) ||
      !expect(':') || !Digits(text, &pos, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (text[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return false;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int offset_seconds = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos++] == '-' ? -1 : 1;
    int oh, om;
    if (!Digits(text, &pos, 2, &oh) || !expect(':') || !Digits(text, &pos, 2, &om)) return false;
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return false;
  }
  if (pos != text.size()) return false;
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day) return false;  // 2026-02-30
  *out = absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Nanoseconds(nanos) -
         absl::Seconds(offset_seconds);
  return true;
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
    if (space != absl::string_view::npos && space - pos <= kMaxTimestampBytes) {
      // Podman repeats one whole-second timestamp for many records.
      const absl::string_view text = payload.substr(pos, space - pos);
      if (text == last_timestamp_text_) {
        time = last_timestamp_;
        pos = space + 1;
      } else if (ParseDockerTimestamp(text, &time)) {
        last_timestamp_text_.assign(text.data(), text.size());
        last_timestamp_ = time;
        pos = space + 1;
      }
    }
    size_t newline = payload.find('\n', pos);
    size_t end = newline == absl::string_view::npos ? payload.size() : newline + 1;
    if (end > pos) Record(stream, payload.substr(pos, end - pos), time);
    pos = end;
  }
}

}  // namespace automate::internal
