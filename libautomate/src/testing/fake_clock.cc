#include "automate/testing/fake_clock.h"

namespace automate_testing {

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    mu->Await(cond);
    return true;
  }
  {
    absl::MutexLock lock(&mu_);
    ++waiters_;
  }
  // Fake time moves without touching `mu`, so re-check it often in real time;
  // waking on `cond` itself stays immediate.
  bool result;
  while (true) {
    if (cond.Eval()) {
      result = true;
      break;
    }
    if (Now() >= deadline) {
      result = cond.Eval();
      break;
    }
    mu->AwaitWithTimeout(cond, absl::Milliseconds(1));
  }
  absl::MutexLock lock(&mu_);
  --waiters_;
  return result;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
  ++generation_;
}

void FakeClock::SetTime(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
  ++generation_;
}

int FakeClock::waiters() {
  absl::MutexLock lock(&mu_);
  return waiters_;
}

}  // namespace automate_testing
