#include "engine/backoff.h"

#include <algorithm>
#include <cmath>

#include "google/protobuf/duration.pb.h"

namespace automate::internal {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d, absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

int MaxAttempts(const v1::RetryPolicy& policy) { return std::max(1, policy.max_attempts()); }

absl::Duration RetryDelay(const v1::RetryPolicy& policy, int next_attempt, absl::BitGenRef gen) {
  absl::Duration initial = FromProto(policy.initial_backoff(), kDefaultInitialBackoff);
  absl::Duration max = FromProto(policy.max_backoff(), kDefaultMaxBackoff);
  double multiplier = policy.multiplier() > 0 ? policy.multiplier() : kDefaultMultiplier;
  double exponent = std::max(0, next_attempt - 2);
  double seconds = absl::ToDoubleSeconds(initial) * std::pow(multiplier, exponent);
  absl::Duration delay = std::min(absl::Seconds(seconds), std::max(max, initial));
  double jitter = absl::Uniform(gen, 0.5, 1.0);
  return absl::Seconds(absl::ToDoubleSeconds(delay) * jitter);
}

}  // namespace automate::internal
