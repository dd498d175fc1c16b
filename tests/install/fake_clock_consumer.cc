// Links automate::testing from the installed package.
#include "automate/testing/fake_clock.h"

int main() {
  automate_testing::FakeClock clock;
  absl::Time start = clock.Now();
  clock.Advance(absl::Seconds(1));
  return clock.Now() - start == absl::Seconds(1) ? 0 : 1;
}
