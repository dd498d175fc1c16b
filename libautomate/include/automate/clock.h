// The source of time for the engine and the scheduler. Everything in
// libautomate that needs "now" or waits for a deadline asks a Clock, so tests
// control time with automate_testing::FakeClock instead of sleeping.
//
// Thread-safety: implementations are thread-safe.
#ifndef AUTOMATE_CLOCK_H_
#define AUTOMATE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/export.h"

namespace automate {

class AUTOMATE_EXPORT Clock {
 public:
  // The process-wide real clock; never deleted.
  static Clock* Real();

  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Blocks until `cond` holds or `deadline` passes (by this clock). Returns
  // true iff `cond` holds. REQUIRES: `mu` is held.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline) = 0;
};

}  // namespace automate

#endif  // AUTOMATE_CLOCK_H_
