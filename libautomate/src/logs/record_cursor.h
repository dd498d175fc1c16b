// Reads consecutive framed records (log_record.h) from a file descriptor with
// pread() through a buffer, so scanning many small records costs few calls.
// A record not yet complete in the file (being appended, or torn) reads as
// the end. Thread-compatible.
#ifndef AUTOMATE_LOGS_RECORD_CURSOR_H_
#define AUTOMATE_LOGS_RECORD_CURSOR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "logs/log_record.h"

namespace automate::internal {

class RecordCursor {
 public:
  enum class Result { kRecord, kEnd, kCorrupt };

  explicit RecordCursor(int fd) : fd_(fd) {}

  // The next Next() reads the record at file position `pos`.
  void Seek(int64_t pos);
  // Reads one record. `data` stays valid until the next call. kCorrupt: bad
  // magic or checksum; I/O errors come back as a status.
  absl::StatusOr<Result> Next(RecordHeader* header, absl::string_view* data);
  // File position after the last record returned (where the next one starts).
  int64_t pos() const { return pos_; }

 private:
  // Makes [pos_, pos_ + n) available in buf_; false if the file is shorter.
  absl::StatusOr<bool> Ensure(size_t n);

  int fd_;
  std::string buf_;
  int64_t buf_pos_ = 0;  // File position of buf_[0].
  size_t buf_len_ = 0;   // Valid bytes in buf_.
  int64_t pos_ = 0;
};

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_RECORD_CURSOR_H_
