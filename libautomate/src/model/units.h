// Internal helpers for the units used in job files: durations and byte sizes,
// and conversions between absl::Duration and google.protobuf.Duration.
// The parsers themselves (ParseDuration, ParseByteSize) are public, in job.h.
#ifndef AUTOMATE_MODEL_UNITS_H_
#define AUTOMATE_MODEL_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"

namespace automate::internal {

// The duration in a form ParseDuration reads back exactly ("1h30m", "0s").
std::string FormatDuration(absl::Duration d);

// The size in a form ParseByteSize reads back exactly ("100Mi", "4096").
std::string FormatByteSize(int64_t bytes);

// Nanosecond precision; the caller checks the range with IsValidProtoDuration.
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

// True when `d` follows the rules of duration.proto: seconds within
// +-10000 years, |nanos| < 1e9 and both with the same sign.
bool IsValidProtoDuration(const google::protobuf::Duration& d);

}  // namespace automate::internal

#endif  // AUTOMATE_MODEL_UNITS_H_
