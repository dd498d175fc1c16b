// Retry delays: exponential backoff with jitter, from a job's RetryPolicy.
#ifndef AUTOMATE_ENGINE_BACKOFF_H_
#define AUTOMATE_ENGINE_BACKOFF_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/random/random.h"
#include "absl/time/time.h"
#include "automate/v1/job.pb.h"

namespace automate::internal {

// Defaults when a policy leaves a field unset.
inline constexpr absl::Duration kDefaultInitialBackoff = absl::Seconds(10);
inline constexpr absl::Duration kDefaultMaxBackoff = absl::Minutes(5);
inline constexpr double kDefaultMultiplier = 2.0;

// Attempts a policy allows (at least 1).
int MaxAttempts(const v1::RetryPolicy& policy);

// The delay before attempt `next_attempt` (2, 3, ...): initial * multiplier^(n-2)
// capped at max, then "equal jitter": a uniform pick in [delay/2, delay], so
// that many executions failing together do not retry in lockstep.
absl::Duration RetryDelay(const v1::RetryPolicy& policy, int next_attempt, absl::BitGenRef gen);

}  // namespace automate::internal

#endif  // AUTOMATE_ENGINE_BACKOFF_H_
