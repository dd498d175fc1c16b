#include "logs/file_log_writer.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "logs/record_cursor.h"
#include "util/fd_io.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

absl::StatusOr<int64_t> FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return absl::ErrnoToStatus(errno, "log: fstat");
  return static_cast<int64_t>(st.st_size);
}

// Opens `path` for reading and writing; -1 when it does not exist and
// `create` is false.
absl::StatusOr<int> OpenRw(const std::string& path, bool create) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0 && errno == ENOENT && !create) return -1;
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("log: open ", path));
  return fd;
}

}  // namespace

absl::Status ReadIndex(int fd, int64_t from, std::vector<IndexEntry>* out) {
  AUTOMATE_ASSIGN_OR_RETURN(int64_t size, FileSize(fd));
  if (size <= from) return absl::OkStatus();
  std::string buf(static_cast<size_t>(size - from), '\0');
  AUTOMATE_ASSIGN_OR_RETURN(size_t got, PreadFull(fd, buf.data(), buf.size(), from, "log: pread"));
  for (size_t i = 0; i + sizeof(IndexEntry) <= got; i += sizeof(IndexEntry)) {
    IndexEntry e;
    memcpy(&e, buf.data() + i, sizeof(e));
    out->push_back(e);
  }
  return absl::OkStatus();
}

bool RecordStartsAt(int fd, int64_t pos, int64_t offset) {
  char header[kRecordHeaderSize];
  absl::StatusOr<size_t> got = PreadFull(fd, header, sizeof(header), pos, "log: pread");
  RecordHeader parsed;
  return got.ok() && *got == sizeof(header) && DecodeRecordHeader(header, &parsed) &&
         parsed.offset == offset;
}

absl::StatusOr<std::unique_ptr<FileLogWriter>> FileLogWriter::Open(const std::string& log_path,
                                                                   const std::string& idx_path) {
  // Files that do not exist yet are created by the first write that needs
  // them: a silent execution (`true`) costs no file creation and no fsync.
  AUTOMATE_ASSIGN_OR_RETURN(int log_fd, OpenRw(log_path, /*create=*/false));
  absl::StatusOr<int> idx_fd = OpenRw(idx_path, /*create=*/false);
  if (!idx_fd.ok()) {
    if (log_fd >= 0) close(log_fd);
    return idx_fd.status();
  }
  std::unique_ptr<FileLogWriter> writer(new FileLogWriter(log_path, idx_path, log_fd, *idx_fd));
  AUTOMATE_RETURN_IF_ERROR(Annotate(writer->Recover(), log_path));
  return writer;
}

FileLogWriter::~FileLogWriter() {
  if (log_fd_ >= 0) close(log_fd_);
  if (idx_fd_ >= 0) close(idx_fd_);
}

// Finds the last index entry that points at a real record, scans the records
// after it, and cuts the files after the last whole record. Only the tail is
// checked: a crash can tear nothing else, since records are only appended.
absl::Status FileLogWriter::Recover() {
  absl::MutexLock lock(&mu_);
  if (log_fd_ < 0) return absl::OkStatus();  // Nothing written yet.
  std::vector<IndexEntry> index;
  if (idx_fd_ < 0) {
    AUTOMATE_ASSIGN_OR_RETURN(idx_fd_, OpenRw(idx_path_, /*create=*/true));
  }
  AUTOMATE_RETURN_IF_ERROR(ReadIndex(idx_fd_, 0, &index));
  AUTOMATE_ASSIGN_OR_RETURN(int64_t file_size, FileSize(log_fd_));
  while (!index.empty() && (index.back().pos >= file_size ||
                            !RecordStartsAt(log_fd_, index.back().pos, index.back().offset))) {
    index.pop_back();
  }
  IndexEntry start = index.empty() ? IndexEntry{0, 0} : index.back();
  idx_bytes_ = static_cast<int64_t>(index.size() * sizeof(IndexEntry));
  if (ftruncate(idx_fd_, idx_bytes_) != 0) return absl::ErrnoToStatus(errno, "log: truncate index");
  last_indexed_ = start.offset;
  RecordCursor cursor(log_fd_);
  cursor.Seek(start.pos);
  int64_t offset = start.offset;
  std::vector<IndexEntry> rebuilt;
  while (true) {
    RecordHeader header;
    absl::string_view data;
    int64_t pos = cursor.pos();
    AUTOMATE_ASSIGN_OR_RETURN(RecordCursor::Result r, cursor.Next(&header, &data));
    if (r != RecordCursor::Result::kRecord || header.offset != offset) {
      cursor.Seek(pos);
      break;
    }
    if (offset - last_indexed_ >= kIndexInterval) {
      rebuilt.push_back({offset, pos});
      last_indexed_ = offset;
    }
    offset += header.length;
  }
  size_ = offset;
  file_pos_ = cursor.pos();
  if (file_pos_ < file_size) {
    if (ftruncate(log_fd_, file_pos_) != 0) return absl::ErrnoToStatus(errno, "log: truncate");
    if (fdatasync(log_fd_) != 0) return absl::ErrnoToStatus(errno, "log: fsync");
  }
  if (lseek(log_fd_, file_pos_, SEEK_SET) < 0) return absl::ErrnoToStatus(errno, "log: seek");
  return WriteIndex(rebuilt);
}

absl::Status FileLogWriter::Append(const LogChunk& chunk) { return AppendBatch(&chunk, 1); }

absl::Status FileLogWriter::AppendBatch(const LogChunk* chunks, size_t n) {
  absl::MutexLock lock(&mu_);
  int64_t offset = size_;
  for (size_t i = 0; i < n; ++i) {
    const LogChunk& c = chunks[i];
    if (c.offset != offset) {
      return absl::InvalidArgumentError(
          absl::StrCat("log: append at offset ", c.offset, ", log size is ", offset));
    }
    if (c.data.empty() || c.data.size() > kMaxRecordData) {
      return absl::InvalidArgumentError(absl::StrCat("log: chunk of ", c.data.size(), " bytes"));
    }
    offset += static_cast<int64_t>(c.data.size());
  }
  if (log_fd_ < 0) {
    AUTOMATE_ASSIGN_OR_RETURN(log_fd_, OpenRw(log_path_, /*create=*/true));
  }
  std::vector<IndexEntry> index;
  absl::Status s = WriteRecords(chunks, n, &index);
  if (!s.ok()) {
    // Leave no half batch behind for readers; the next Append retries here.
    if (ftruncate(log_fd_, file_pos_) != 0 || lseek(log_fd_, file_pos_, SEEK_SET) < 0) {
      return Annotate(s, "log: cannot undo a failed write either");
    }
    return s;
  }
  return WriteIndex(index);
}

absl::Status FileLogWriter::WriteRecords(const LogChunk* chunks, size_t n,
                                         std::vector<IndexEntry>* index) {
  std::vector<char> headers(n * kRecordHeaderSize);
  std::vector<struct iovec> iov(2 * n);
  int64_t offset = size_;
  int64_t pos = file_pos_;
  int64_t last_indexed = last_indexed_;
  for (size_t i = 0; i < n; ++i) {
    char* h = headers.data() + i * kRecordHeaderSize;
    EncodeRecordHeader(chunks[i], h);
    iov[2 * i] = {h, kRecordHeaderSize};
    iov[2 * i + 1] = {const_cast<char*>(chunks[i].data.data()), chunks[i].data.size()};
    if (offset - last_indexed >= kIndexInterval) {
      index->push_back({offset, pos});
      last_indexed = offset;
    }
    offset += static_cast<int64_t>(chunks[i].data.size());
    pos += static_cast<int64_t>(kRecordHeaderSize + chunks[i].data.size());
  }
  AUTOMATE_RETURN_IF_ERROR(WriteFullV(log_fd_, iov.data(), static_cast<int>(iov.size()), "log: write"));
  size_ = offset;
  file_pos_ = pos;
  last_indexed_ = last_indexed;
  return absl::OkStatus();
}

// The index is written after the records it points at, so it never points
// past the log; a lost entry only makes seeks scan a little longer.
absl::Status FileLogWriter::WriteIndex(const std::vector<IndexEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  if (idx_fd_ < 0) {
    absl::StatusOr<int> fd = OpenRw(idx_path_, /*create=*/true);
    if (!fd.ok()) return absl::OkStatus();  // Seeks scan longer; the data is stored.
    idx_fd_ = *fd;
  }
  const size_t bytes = entries.size() * sizeof(IndexEntry);
  struct iovec iov = {const_cast<IndexEntry*>(entries.data()), bytes};
  if (lseek(idx_fd_, idx_bytes_, SEEK_SET) < 0) return absl::OkStatus();
  if (!WriteFullV(idx_fd_, &iov, 1, "log: write").ok()) {
    // The records are stored; without these entries seeks only scan longer.
    // Cut a partial entry so later ones stay aligned.
    (void)ftruncate(idx_fd_, idx_bytes_);
    return absl::OkStatus();
  }
  idx_bytes_ += static_cast<int64_t>(bytes);
  return absl::OkStatus();
}

// Only the records are synced: the index is a hint that Recover() checks and
// rebuilds past its last good entry, so a stale index costs a longer scan,
// never data. A log with nothing new since the last sync (a silent job) costs
// no fsync at all: one fsync per finished execution would cap throughput.
absl::Status FileLogWriter::Sync() {
  absl::MutexLock lock(&mu_);
  if (size_ == synced_size_) return absl::OkStatus();
  if (fdatasync(log_fd_) != 0) return absl::ErrnoToStatus(errno, "log: fsync");
  synced_size_ = size_;
  return absl::OkStatus();
}

int64_t FileLogWriter::size() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

}  // namespace automate::internal
