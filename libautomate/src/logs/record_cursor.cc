#include "logs/record_cursor.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/fd_io.h"

namespace automate::internal {
namespace {
constexpr size_t kReadAhead = 256 * 1024;
}  // namespace

void RecordCursor::Seek(int64_t pos) { pos_ = pos; }

absl::StatusOr<bool> RecordCursor::Ensure(size_t n) {
  const int64_t buf_end = buf_pos_ + static_cast<int64_t>(buf_len_);
  if (pos_ >= buf_pos_ && pos_ + static_cast<int64_t>(n) <= buf_end) return true;
  // Re-read from pos_: data past the old end may have been appended since.
  size_t want = std::max(n, kReadAhead);
  if (buf_.size() < want) buf_.resize(want);
  absl::StatusOr<size_t> got = PreadFull(fd_, buf_.data(), want, pos_, "log: pread");
  if (!got.ok()) return got.status();
  buf_pos_ = pos_;
  buf_len_ = *got;
  return buf_len_ >= n;
}

absl::StatusOr<RecordCursor::Result> RecordCursor::Next(RecordHeader* header,
                                                        absl::string_view* data) {
  absl::StatusOr<bool> have = Ensure(kRecordHeaderSize);
  if (!have.ok()) return have.status();
  if (!*have) return Result::kEnd;
  if (!DecodeRecordHeader(buf_.data() + (pos_ - buf_pos_), header)) return Result::kCorrupt;
  have = Ensure(kRecordHeaderSize + header->length);
  if (!have.ok()) return have.status();
  if (!*have) return Result::kEnd;
  const char* h = buf_.data() + (pos_ - buf_pos_);
  *data = absl::string_view(h + kRecordHeaderSize, header->length);
  if (!RecordChecksumOk(h, *header, *data)) return Result::kCorrupt;
  pos_ += static_cast<int64_t>(kRecordHeaderSize + header->length);
  return Result::kRecord;
}

}  // namespace automate::internal
