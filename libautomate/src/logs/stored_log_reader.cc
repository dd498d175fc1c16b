// NewStoredLogReader: follows a log that another process (or another
// ExecutionLog instance) writes, by polling the stored file.
#include <algorithm>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "logs/execution_log.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

class StoredLogReader : public LogReader {
 public:
  StoredLogReader(std::unique_ptr<LogFileReader> file, absl::Status open_status, int64_t offset,
                  bool follow, std::function<absl::StatusOr<bool>()> is_final,
                  absl::Duration poll_interval, Clock* clock)
      : file_(std::move(file)), open_status_(std::move(open_status)), offset_(offset),
        follow_(follow), is_final_(std::move(is_final)), poll_interval_(poll_interval),
        clock_(clock) {}

  absl::StatusOr<size_t> Read(std::vector<LogChunk>* out, size_t max_bytes,
                              absl::Time deadline) override {
    if (!open_status_.ok()) return open_status_;
    while (true) {
      AUTOMATE_ASSIGN_OR_RETURN(size_t n, ReadSome(out, max_bytes));
      if (n > 0) return n;
      if (!follow_ || final_) return absl::OutOfRangeError("log: end of stream");
      // Asked before one more read: bytes stored before the execution became
      // final are read by that read, so none are missed.
      AUTOMATE_ASSIGN_OR_RETURN(bool final, is_final_ ? is_final_() : absl::StatusOr<bool>(false));
      AUTOMATE_ASSIGN_OR_RETURN(n, ReadSome(out, max_bytes));
      if (n > 0) {
        final_ = final;
        return n;
      }
      if (final) {
        final_ = true;
        return absl::OutOfRangeError("log: end of stream");
      }
      if (!Sleep(deadline)) return 0;
    }
  }

  int64_t offset() const override { return offset_; }

 private:
  absl::StatusOr<size_t> ReadSome(std::vector<LogChunk>* out, size_t max_bytes) {
    AUTOMATE_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(offset_, max_bytes, out));
    if (n > 0) offset_ = out->back().offset + static_cast<int64_t>(out->back().data.size());
    return n;
  }

  // Waits one poll interval, or until `deadline`; false if the deadline passed.
  bool Sleep(absl::Time deadline) {
    const absl::Time now = clock_->Now();
    if (now >= deadline) return false;
    const absl::Time until = std::min(deadline, now + poll_interval_);
    absl::MutexLock lock(&mu_);
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&never_), until);
    return true;
  }

  const std::unique_ptr<LogFileReader> file_;
  const absl::Status open_status_;
  int64_t offset_;
  const bool follow_;
  const std::function<absl::StatusOr<bool>()> is_final_;
  const absl::Duration poll_interval_;
  Clock* const clock_;
  bool final_ = false;  // is_final() said true; the next empty read ends.
  absl::Mutex mu_;      // Only to sleep on.
  bool never_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<LogReader> NewStoredLogReader(LogStore* store, absl::string_view execution_id,
                                              int64_t offset, bool follow,
                                              std::function<absl::StatusOr<bool>()> is_final,
                                              absl::Duration poll_interval, Clock* clock) {
  absl::StatusOr<std::unique_ptr<LogFileReader>> file = store->OpenReader(execution_id);
  absl::Status status = file.status();
  return std::make_unique<StoredLogReader>(file.ok() ? std::move(*file) : nullptr,
                                           std::move(status), offset, follow, std::move(is_final),
                                           poll_interval, clock);
}

}  // namespace automate::internal
