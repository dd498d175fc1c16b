// Metrics: the few counters, gauges and histograms automated exposes on
// /metrics in the Prometheus text format (version 0.0.4).
//
// Names follow the Prometheus conventions: an `automate_` prefix, base units
// (seconds, bytes), `_total` on counters.
#ifndef AUTOMATED_METRICS_H_
#define AUTOMATED_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "automate/v1/execution.pb.h"

namespace automated {

class Metrics {
 public:
  // Gauges read at scrape time (queue depth, running).
  struct Gauges {
    int64_t queued = 0;
    int64_t running = 0;
  };
  explicit Metrics(std::function<Gauges()> gauges) : gauges_(std::move(gauges)) {}

  // An execution reached a final state (once per execution).
  void ExecutionFinished(const automate::v1::Execution& exec);
  void HttpRequest(const std::string& route, int code);
  void LogBytesSent(int64_t n);

  // The exposition text.
  std::string Render();

  static constexpr std::array<double, 12> kDurationBuckets = {
      0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600};

 private:
  struct Histogram {
    std::array<int64_t, kDurationBuckets.size()> buckets{};
    int64_t count = 0;
    double sum = 0;
  };
  std::function<Gauges()> gauges_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> executions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> durations_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int>, int64_t> requests_ ABSL_GUARDED_BY(mu_);
  int64_t log_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace automated

#endif  // AUTOMATED_METRICS_H_
