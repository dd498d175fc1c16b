#include "model/units.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/job.h"

namespace automate {
namespace {

constexpr char kDurationHelp[] = "must be a duration like 90s, 2h, 1h30m";
constexpr char kByteSizeHelp[] = "must be a byte size like 4096, 512k, 100Mi, 1G";
// google/protobuf/duration.proto: about +-10000 years.
constexpr int64_t kMaxProtoSeconds = 315576000000;

struct SizeSuffix {
  absl::string_view suffix;
  int64_t multiplier;
};
// Longest suffixes first, so that "Ki" is not read as "K" followed by "i".
constexpr SizeSuffix kSizeSuffixes[] = {
    {"Ki", int64_t{1} << 10},
    {"Mi", int64_t{1} << 20},
    {"Gi", int64_t{1} << 30},
    {"Ti", int64_t{1} << 40},
    {"k", 1000},
    {"K", 1000},
    {"M", 1000000},
    {"G", 1000000000},
    {"T", 1000000000000},
};

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  // absl::ParseDuration is Go's syntax, but also takes signs, "inf" and a bare
  // "0"; job files want a unit on every number and no negative durations.
  if (text.empty() || !(absl::ascii_isdigit(text.front()) || text.front() == '.') ||
      !absl::ascii_isalpha(text.back())) {
    return absl::InvalidArgumentError(kDurationHelp);
  }
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration() ||
      d > absl::Seconds(kMaxProtoSeconds)) {
    return absl::InvalidArgumentError(kDurationHelp);
  }
  return d;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  int64_t multiplier = 1;
  for (const SizeSuffix& s : kSizeSuffixes) {
    if (absl::EndsWith(text, s.suffix)) {
      multiplier = s.multiplier;
      text.remove_suffix(s.suffix.size());
      break;
    }
  }
  // SimpleAtoi accepts signs and spaces; sizes are plain digits.
  if (text.empty() || text.size() > 19) return absl::InvalidArgumentError(kByteSizeHelp);
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return absl::InvalidArgumentError(kByteSizeHelp);
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value > std::numeric_limits<int64_t>::max() / multiplier) {
    return absl::InvalidArgumentError(kByteSizeHelp);
  }
  return value * multiplier;
}

namespace internal {

std::string FormatDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";  // absl writes "0", which has no unit
  return absl::FormatDuration(d);
}

std::string FormatByteSize(int64_t bytes) {
  if (bytes != 0) {
    // The binary suffixes first: sizes are usually powers of two.
    for (int i = 3; i >= 0; --i) {
      const SizeSuffix& s = kSizeSuffixes[i];
      if (bytes % s.multiplier == 0) return absl::StrCat(bytes / s.multiplier, s.suffix);
    }
  }
  return absl::StrCat(bytes);
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

bool IsValidProtoDuration(const google::protobuf::Duration& d) {
  if (d.seconds() > kMaxProtoSeconds || d.seconds() < -kMaxProtoSeconds) return false;
  if (d.nanos() >= 1000000000 || d.nanos() <= -1000000000) return false;
  return !((d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0));
}

}  // namespace internal
}  // namespace automate
