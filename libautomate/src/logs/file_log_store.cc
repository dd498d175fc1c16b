#include "logs/file_log_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "logs/file_log_writer.h"
#include "logs/record_cursor.h"
#include "util/status_macros.h"

namespace automate {
namespace internal {
namespace {

// Reads a log file that a writer (of any process) may be appending to.
class FileLogFileReader : public LogFileReader {
 public:
  FileLogFileReader(std::string log_path, std::string idx_path)
      : log_path_(std::move(log_path)), idx_path_(std::move(idx_path)) {}
  ~FileLogFileReader() override {
    if (log_fd_ >= 0) close(log_fd_);
    if (idx_fd_ >= 0) close(idx_fd_);
  }

  absl::StatusOr<size_t> ReadAt(int64_t offset, size_t max_bytes,
                                std::vector<LogChunk>* out) override;

 private:
  IndexEntry FindStart(int64_t offset);
  IndexEntry FromIndex(int64_t offset);
  // Sets *stale when the record at `start` is not the one expected there
  // (the hint predates a repair of the file).
  absl::StatusOr<size_t> Scan(IndexEntry start, int64_t offset, size_t max_bytes,
                              std::vector<LogChunk>* out, bool* stale);

  const std::string log_path_;
  const std::string idx_path_;
  int log_fd_ = -1;
  int idx_fd_ = -1;
  std::unique_ptr<RecordCursor> cursor_;
  std::vector<IndexEntry> index_;
  // Where the record after the last one read starts: sequential reads
  // continue there without touching the index.
  IndexEntry next_ = {0, 0};
};

absl::StatusOr<size_t> FileLogFileReader::ReadAt(int64_t offset, size_t max_bytes,
                                                 std::vector<LogChunk>* out) {
  if (offset < 0) return absl::InvalidArgumentError("log: negative offset");
  if (log_fd_ < 0) {
    // Opened lazily: a log that does not exist yet reads as empty.
    log_fd_ = open(log_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (log_fd_ < 0 && errno == ENOENT) return 0;
    if (log_fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat("log: open ", log_path_));
    cursor_ = std::make_unique<RecordCursor>(log_fd_);
  }
  const IndexEntry start = FindStart(offset);
  bool stale = false;
  absl::StatusOr<size_t> n = Scan(start, offset, max_bytes, out, &stale);
  if (stale && (start.offset != 0 || start.pos != 0)) {
    next_ = {0, 0};
    index_.clear();
    n = Scan({0, 0}, offset, max_bytes, out, &stale);
  }
  if (!n.ok()) return Annotate(n.status(), log_path_);
  return n;
}

IndexEntry FileLogFileReader::FindStart(int64_t offset) {
  if (next_.offset <= offset && offset - next_.offset < 2 * kIndexInterval) return next_;
  IndexEntry best = FromIndex(offset);
  if (next_.offset <= offset && next_.offset > best.offset) best = next_;
  return best;
}

IndexEntry FileLogFileReader::FromIndex(int64_t offset) {
  if (idx_fd_ < 0) idx_fd_ = open(idx_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (idx_fd_ < 0) return {0, 0};
  if (index_.empty() || index_.back().offset + kIndexInterval <= offset) {
    // Entries only grow at the end; reading the part not yet seen is enough.
    const int64_t from = static_cast<int64_t>(index_.size() * sizeof(IndexEntry));
    if (!ReadIndex(idx_fd_, from, &index_).ok()) return {0, 0};
  }
  auto it = std::upper_bound(index_.begin(), index_.end(), offset,
                             [](int64_t o, const IndexEntry& e) { return o < e.offset; });
  if (it == index_.begin()) return {0, 0};
  --it;
  if (!RecordStartsAt(log_fd_, it->pos, it->offset)) {
    index_.clear();  // Written before a repair; reloaded next time.
    return {0, 0};
  }
  return *it;
}

absl::StatusOr<size_t> FileLogFileReader::Scan(IndexEntry start, int64_t offset, size_t max_bytes,
                                               std::vector<LogChunk>* out, bool* stale) {
  cursor_->Seek(start.pos);
  int64_t expected = start.offset;
  size_t n = 0;
  size_t bytes = 0;
  while (bytes < max_bytes || n == 0) {
    const int64_t pos = cursor_->pos();
    RecordHeader h;
    absl::string_view data;
    AUTOMATE_ASSIGN_OR_RETURN(RecordCursor::Result r, cursor_->Next(&h, &data));
    if (r == RecordCursor::Result::kEnd) break;
    if (r == RecordCursor::Result::kCorrupt || h.offset != expected) {
      if (pos == start.pos) *stale = true;
      return absl::DataLossError(absl::StrCat("log: corrupt record at file position ", pos));
    }
    expected = h.offset + h.length;
    if (expected <= offset) {
      next_ = {expected, cursor_->pos()};
      continue;
    }
    const size_t cut = offset > h.offset ? static_cast<size_t>(offset - h.offset) : 0;
    if (n > 0 && bytes + (data.size() - cut) > max_bytes) break;
    out->push_back(LogChunk{h.offset + static_cast<int64_t>(cut), h.time, h.stream,
                            std::string(data.substr(cut))});
    ++n;
    bytes += data.size() - cut;
    next_ = {expected, cursor_->pos()};
  }
  return n;
}

class FileLogStore : public LogStore {
 public:
  explicit FileLogStore(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::unique_ptr<LogWriter>> OpenWriter(absl::string_view id) override {
    AUTOMATE_RETURN_IF_ERROR(ValidateLogId(id));
    AUTOMATE_ASSIGN_OR_RETURN(std::unique_ptr<FileLogWriter> w,
                              FileLogWriter::Open(Path(id, ".log"), Path(id, ".idx")));
    return std::unique_ptr<LogWriter>(std::move(w));
  }

  absl::StatusOr<std::unique_ptr<LogFileReader>> OpenReader(absl::string_view id) override {
    AUTOMATE_RETURN_IF_ERROR(ValidateLogId(id));
    return std::unique_ptr<LogFileReader>(
        new FileLogFileReader(Path(id, ".log"), Path(id, ".idx")));
  }

  absl::Status Delete(absl::string_view id) override {
    AUTOMATE_RETURN_IF_ERROR(ValidateLogId(id));
    for (const char* ext : {".log", ".idx"}) {
      std::string path = Path(id, ext);
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return absl::ErrnoToStatus(errno, absl::StrCat("log: delete ", path));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string Path(absl::string_view id, const char* ext) const {
    return absl::StrCat(dir_, "/", id, ext);
  }
  const std::string dir_;
};

}  // namespace

absl::Status ValidateLogId(absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 128 && id[0] != '.';
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("log: bad execution id \"", id, "\""));
  return absl::OkStatus();
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<LogStore>> OpenFileLogStore(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("log: create directory ", dir, ": ", ec.message()));
  }
  return std::unique_ptr<LogStore>(new internal::FileLogStore(dir));
}

}  // namespace automate
