#include "engine/start_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/fd_io.h"
#include "util/status_macros.h"

namespace automate::internal {
namespace {

std::string Line(const StartJournal::Entry& e) {
  return absl::StrCat(e.execution_id, " ", e.attempt, " ", e.log_offset, " ",
                      absl::ToUnixNanos(e.time), "\n");
}

}  // namespace

bool ParseStartJournalLine(absl::string_view line, StartJournal::Entry* entry) {
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  int64_t nanos = 0;
  if (fields.size() != 4 || fields[0].empty() || !absl::SimpleAtoi(fields[1], &entry->attempt) ||
      !absl::SimpleAtoi(fields[2], &entry->log_offset) || !absl::SimpleAtoi(fields[3], &nanos) ||
      entry->attempt < 1 || entry->log_offset < 0) {
    return false;
  }
  entry->execution_id = std::string(fields[0]);
  entry->time = absl::FromUnixNanos(nanos);
  return true;
}

absl::StatusOr<std::unique_ptr<StartJournal>> StartJournal::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("start journal: open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    absl::Status s = absl::ErrnoToStatus(errno, absl::StrCat("start journal: stat ", path));
    close(fd);
    return s;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  absl::StatusOr<size_t> got =
      PreadFull(fd, text.data(), text.size(), 0, absl::StrCat("start journal: read ", path));
  if (!got.ok()) {
    close(fd);
    return got.status();
  }
  text.resize(*got);
  std::vector<Entry> entries;
  size_t begin = 0;
  for (size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', begin)) {
    Entry e;
    // A line that does not parse was not written by us whole: skip it.
    if (ParseStartJournalLine(absl::string_view(text).substr(begin, end - begin), &e)) {
      entries.push_back(std::move(e));
    }
    begin = end + 1;
  }
  auto bytes = static_cast<int64_t>(text.size());
  if (begin < text.size()) {
    // A torn last line: cut it, so that the next line starts on its own.
    if (ftruncate(fd, static_cast<off_t>(begin)) != 0) {
      absl::Status s = absl::ErrnoToStatus(errno, absl::StrCat("start journal: truncate ", path));
      close(fd);
      return s;
    }
    bytes = static_cast<int64_t>(begin);
  }
  return std::unique_ptr<StartJournal>(new StartJournal(path, fd, std::move(entries), bytes));
}

StartJournal::~StartJournal() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

std::vector<StartJournal::Entry> StartJournal::Entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

absl::Status StartJournal::Record(const Entry& entry) {
  if (entry.execution_id.empty() ||
      entry.execution_id.find_first_of(" \n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("start journal: bad execution id \"", entry.execution_id, "\""));
  }
  std::string line = Line(entry);
  absl::MutexLock lock(&mu_);
  // After a failed write whose part of a line could not be cut: end that
  // fragment first, so that this line stands alone.
  if (torn_) line = absl::StrCat("\n", line);
  absl::Status written = WriteFull(fd_, line, "write");  // No message built unless it fails.
  if (!written.ok()) {
    // Cut whatever part of the line went in: this start is not noted.
    if (ftruncate(fd_, static_cast<off_t>(bytes_.load())) != 0) torn_ = true;
    return Annotate(written, absl::StrCat("start journal ", path_));
  }
  if (torn_) {
    torn_ = false;
    // The fragment stays in the file, a line that Open() skips or reads as
    // the start it was (which went ahead; only its time may be cut): count it.
    bytes_.store(static_cast<int64_t>(lseek(fd_, 0, SEEK_END)), std::memory_order_relaxed);
  } else {
    bytes_.fetch_add(static_cast<int64_t>(line.size()), std::memory_order_relaxed);
  }
  entries_.push_back(entry);
  return absl::OkStatus();
}

absl::Status StartJournal::Compact(
    const std::function<std::vector<Entry>(std::vector<Entry>)>& keep) {
  absl::MutexLock lock(&mu_);
  std::vector<Entry> kept = keep(entries_);
  // Nothing to drop (an engine starting on an empty journal): no rewrite.
  if (kept.size() == entries_.size() && !torn_) return absl::OkStatus();
  std::string text;
  for (const Entry& e : kept) text += Line(e);
  // A new file renamed over the old one: whenever the engine dies, the
  // journal is the old or the new one, never a mix.
  const std::string tmp = path_ + ".tmp";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("start journal: open ", tmp));
  absl::Status written = WriteFull(fd, text, absl::StrCat("start journal: write ", tmp));
  if (written.ok() && rename(tmp.c_str(), path_.c_str()) != 0) {
    written = absl::ErrnoToStatus(errno, absl::StrCat("start journal: rename to ", path_));
  }
  if (!written.ok()) {
    close(fd);
    unlink(tmp.c_str());
    return written;
  }
  close(fd_);
  fd_ = fd;
  entries_ = std::move(kept);
  bytes_.store(static_cast<int64_t>(text.size()), std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace automate::internal
