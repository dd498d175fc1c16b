// A Clock that moves only when told: tests call Advance() instead of sleeping.
// Waiters in AwaitWithDeadline wake when the condition may have changed (the
// mutex is released by another thread) or when Advance() passes their deadline.
//
// Thread-safety: thread-safe.
#ifndef AUTOMATE_TESTING_FAKE_CLOCK_H_
#define AUTOMATE_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/clock.h"

namespace automate_testing {

class FakeClock : public automate::Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600));  // 2026-01-01

  absl::Time Now() override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override;

  void Advance(absl::Duration d);
  void SetTime(absl::Time t);
  // Number of threads blocked in AwaitWithDeadline with a finite deadline.
  int waiters();

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace automate_testing

#endif  // AUTOMATE_TESTING_FAKE_CLOCK_H_
