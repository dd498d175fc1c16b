#include "metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "automate/execution.h"
#include "fmt/core.h"
#include "google/protobuf/util/time_util.h"

namespace automated {
namespace {

// Label values escape backslash, double quote and newline.
std::string Escape(const std::string& value) {
  return absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

std::string Number(double v) { return fmt::format("{}", v); }

}  // namespace

void Metrics::ExecutionFinished(const automate::v1::Execution& exec) {
  std::string state = absl::AsciiStrToLower(automate::StateName(exec.state()));
  double seconds = 0;
  if (exec.has_start_time() && exec.has_end_time()) {
    seconds = static_cast<double>(google::protobuf::util::TimeUtil::DurationToNanoseconds(
                  exec.end_time() - exec.start_time())) / 1e9;
  }
  absl::MutexLock lock(&mu_);
  ++executions_[{exec.job(), state}];
  if (!exec.has_start_time()) return;  // Cancelled before it ran: no duration.
  Histogram& h = durations_[exec.job()];
  for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (seconds <= kDurationBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::HttpRequest(const std::string& route, int code) {
  absl::MutexLock lock(&mu_);
  ++requests_[{route, code}];
}

void Metrics::LogBytesSent(int64_t n) {
  absl::MutexLock lock(&mu_);
  log_bytes_ += n;
}

std::string Metrics::Render() {
  Gauges gauges = gauges_ ? gauges_() : Gauges{};
  std::string out;
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP automate_executions_total Executions that reached a final state, by job "
                  "and state.\n# TYPE automate_executions_total counter\n");
  for (const auto& [key, n] : executions_) {
    absl::StrAppend(&out, "automate_executions_total{job=\"", Escape(key.first), "\",state=\"",
                    key.second, "\"} ", n, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP automate_execution_duration_seconds Time from the first attempt's start "
                  "to the end, of finished executions.\n"
                  "# TYPE automate_execution_duration_seconds histogram\n");
  for (const auto& [job, h] : durations_) {
    std::string label = Escape(job);
    for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
      absl::StrAppend(&out, "automate_execution_duration_seconds_bucket{job=\"", label,
                      "\",le=\"", Number(kDurationBuckets[i]), "\"} ", h.buckets[i], "\n");
    }
    absl::StrAppend(&out, "automate_execution_duration_seconds_bucket{job=\"", label,
                    "\",le=\"+Inf\"} ", h.count, "\n");
    absl::StrAppend(&out, "automate_execution_duration_seconds_sum{job=\"", label, "\"} ",
                    Number(h.sum), "\n");
    absl::StrAppend(&out, "automate_execution_duration_seconds_count{job=\"", label, "\"} ",
                    h.count, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP automate_queue_depth Executions waiting for a slot.\n"
                  "# TYPE automate_queue_depth gauge\nautomate_queue_depth ",
                  gauges.queued, "\n");
  absl::StrAppend(&out,
                  "# HELP automate_running_executions Executions with an attempt running.\n"
                  "# TYPE automate_running_executions gauge\nautomate_running_executions ",
                  gauges.running, "\n");
  absl::StrAppend(&out,
                  "# HELP automate_log_sent_bytes_total Log bytes sent to HTTP clients.\n"
                  "# TYPE automate_log_sent_bytes_total counter\nautomate_log_sent_bytes_total ",
                  log_bytes_, "\n");
  absl::StrAppend(&out,
                  "# HELP automate_http_requests_total HTTP requests by route and status code.\n"
                  "# TYPE automate_http_requests_total counter\n");
  for (const auto& [key, n] : requests_) {
    absl::StrAppend(&out, "automate_http_requests_total{route=\"", Escape(key.first),
                    "\",code=\"", key.second, "\"} ", n, "\n");
  }
  return out;
}

}  // namespace automated
