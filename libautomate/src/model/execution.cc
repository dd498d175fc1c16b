#include "automate/execution.h"

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/numeric/int128.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace automate {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Monotonic ULIDs: within one millisecond the 80-bit random part is
// incremented, so ids made in one process always sort in creation order.
class UlidGenerator {
 public:
  std::string Next(absl::Time now) {
    absl::MutexLock lock(&mu_);
    uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(now));
    if (ms <= last_ms_) {
      ms = last_ms_;
      if (++lo_ == 0) ++hi_;  // 80-bit increment; hi_ holds the top 16 bits.
    } else {
      last_ms_ = ms;
      hi_ = absl::Uniform<uint16_t>(bitgen_);
      lo_ = absl::Uniform<uint64_t>(bitgen_) >> 1;  // room to increment
    }
    // 128 bits: 48 ms | 16 hi | 64 lo, written as 26 base32 digits (130 bits).
    absl::uint128 value = (absl::uint128(ms) << 80) | (absl::uint128(hi_) << 64) | lo_;
    std::string out(26, '0');
    for (int i = 25; i >= 0; --i) {
      out[i] = kCrockford[absl::Uint128Low64(value & 31)];
      value >>= 5;
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ms_ ABSL_GUARDED_BY(mu_) = 0;
  uint16_t hi_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lo_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::string NewExecutionId(absl::Time now) {
  static UlidGenerator* const generator = new UlidGenerator();
  return generator->Next(now);
}

bool IsFinal(v1::ExecutionState state) {
  switch (state) {
    case v1::SUCCEEDED:
    case v1::FAILED:
    case v1::CANCELLED:
    case v1::TIMED_OUT:
      return true;
    default:
      return false;
  }
}

std::string StateName(v1::ExecutionState state) {
  switch (state) {
    case v1::PENDING:
      return "pending";
    case v1::QUEUED:
      return "queued";
    case v1::RUNNING:
      return "running";
    case v1::SUCCEEDED:
      return "succeeded";
    case v1::FAILED:
      return "failed";
    case v1::CANCELLED:
      return "cancelled";
    case v1::TIMED_OUT:
      return "timed_out";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::ExecutionState> ParseStateName(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (int s = v1::PENDING; s <= v1::TIMED_OUT; ++s) {
    auto state = static_cast<v1::ExecutionState>(s);
    if (StateName(state) == lower) return state;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "state: unknown state \"", name,
      "\" (one of pending, queued, running, succeeded, failed, cancelled, timed_out)"));
}

}  // namespace automate
