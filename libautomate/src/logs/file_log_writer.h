// FileLogWriter: appends framed records to `<id>.log` and sparse entries to
// `<id>.idx` (formats in log_record.h and file_log_store.h).
#ifndef AUTOMATE_LOGS_FILE_LOG_WRITER_H_
#define AUTOMATE_LOGS_FILE_LOG_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "logs/file_log_store.h"

namespace automate::internal {

// An index entry is written once this much data follows the previous one.
inline constexpr int64_t kIndexInterval = 64 * 1024;

struct IndexEntry {
  int64_t offset;
  int64_t pos;
};

// Reads the complete entries of an index file from byte `from` on.
absl::Status ReadIndex(int fd, int64_t from, std::vector<IndexEntry>* out);

// True iff a record with logical offset `offset` starts at `pos` in `fd`.
bool RecordStartsAt(int fd, int64_t pos, int64_t offset);

class FileLogWriter : public BatchLogWriter {
 public:
  // Opens the files if they exist and cuts off a torn tail (see the header
  // of file_log_store.h); files that do not exist are created on first use.
  static absl::StatusOr<std::unique_ptr<FileLogWriter>> Open(const std::string& log_path,
                                                             const std::string& idx_path);
  ~FileLogWriter() override;

  absl::Status Append(const LogChunk& chunk) override;
  absl::Status AppendBatch(const LogChunk* chunks, size_t n) override;
  absl::Status Sync() override;
  int64_t size() const override;

 private:
  FileLogWriter(std::string log_path, std::string idx_path, int log_fd, int idx_fd)
      : log_path_(std::move(log_path)), idx_path_(std::move(idx_path)), log_fd_(log_fd),
        idx_fd_(idx_fd) {}
  absl::Status Recover();
  absl::Status WriteRecords(const LogChunk* chunks, size_t n, std::vector<IndexEntry>* index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteIndex(const std::vector<IndexEntry>& entries)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string log_path_;
  const std::string idx_path_;
  mutable absl::Mutex mu_;
  int log_fd_ ABSL_GUARDED_BY(mu_);  // -1 until the file exists.
  int idx_fd_ ABSL_GUARDED_BY(mu_);  // -1 until the file exists.
  int64_t synced_size_ ABSL_GUARDED_BY(mu_) = 0;  // size_ at the last Sync().
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;      // Logical bytes of data.
  int64_t file_pos_ ABSL_GUARDED_BY(mu_) = 0;  // Bytes in the .log file.
  int64_t last_indexed_ ABSL_GUARDED_BY(mu_) = 0;  // Offset of the last entry.
  int64_t idx_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_FILE_LOG_WRITER_H_
