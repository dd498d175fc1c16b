// Execution logs: the byte streams an attempt writes, stored and followed.
//
// An execution has one log: the output of all its attempts and the engine's
// own SYSTEM lines, in order. Every chunk has an offset, the position of its
// first byte in that log, so a reader can start anywhere and resume after a
// dropped connection without gaps or duplicates. Data is bytes, not text.
//
// Executors write raw output to a LogSink; the engine masks secrets, splits it
// into lines (long lines into chunks), enforces the log limit, stores it in a
// LogStore and fans it out to live LogReaders.
//
// Thread-safety: LogSink and LogStore are thread-safe; one LogReader is used
// by one thread at a time.
#ifndef AUTOMATE_LOG_H_
#define AUTOMATE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/export.h"
#include "automate/v1/execution.pb.h"

namespace automate {

// One stored piece of a log: a whole line (with its '\n'), the part of a long
// line that fit in one chunk, or the last bytes before the stream ended.
struct LogChunk {
  int64_t offset = 0;
  absl::Time time;
  v1::LogStream stream = v1::STDOUT;
  std::string data;
};

// Where executors write an attempt's output. Write() copies `data`; it never
// blocks on readers. Output is raw bytes: no need to cut it at line ends.
class AUTOMATE_EXPORT LogSink {
 public:
  virtual ~LogSink() = default;
  // `source_time` is when the backend says the bytes were written (Docker and
  // Kubernetes timestamps); absl::InfinitePast() means "now".
  virtual void Write(v1::LogStream stream, absl::string_view data,
                     absl::Time source_time = absl::InfinitePast()) = 0;
};

// Reads one execution's log from an offset, optionally following it live.
class AUTOMATE_EXPORT LogReader {
 public:
  virtual ~LogReader() = default;
  // Appends the next chunks (at most about `max_bytes` of data) to `out`.
  // Returns the number of chunks appended, 0 only when the deadline passed
  // with nothing new (follow mode). Errors: kOutOfRange at the end of the
  // stream (not following: the end of what is stored; following: the
  // execution is final and everything was read).
  virtual absl::StatusOr<size_t> Read(std::vector<LogChunk>* out, size_t max_bytes,
                                      absl::Time deadline) = 0;
  // The offset of the next byte this reader returns.
  virtual int64_t offset() const = 0;
};

// Appends chunks to one execution's stored log.
class AUTOMATE_EXPORT LogWriter {
 public:
  virtual ~LogWriter() = default;
  // REQUIRES: chunk.offset == size(); chunks are appended in order.
  virtual absl::Status Append(const LogChunk& chunk) = 0;
  // Makes everything appended durable (fsync).
  virtual absl::Status Sync() = 0;
  // The log's length in bytes of data.
  virtual int64_t size() const = 0;
};

// Random access to one execution's stored log. Sees what writers of this or
// another process appended up to the call.
class AUTOMATE_EXPORT LogFileReader {
 public:
  virtual ~LogFileReader() = default;
  // Appends the chunks that hold bytes from `offset` on (the first one cut so
  // that it starts at `offset`), about `max_bytes` of data at most. Returns
  // the number appended: 0 at the current end.
  virtual absl::StatusOr<size_t> ReadAt(int64_t offset, size_t max_bytes,
                                        std::vector<LogChunk>* out) = 0;
};

// Durable storage of logs, one log per execution id.
class AUTOMATE_EXPORT LogStore {
 public:
  virtual ~LogStore() = default;
  // Opens the log for appending, creating it if missing. A tail torn by a
  // crash is cut off, so size() is the length of what was fully written.
  virtual absl::StatusOr<std::unique_ptr<LogWriter>> OpenWriter(
      absl::string_view execution_id) = 0;
  // Opens the log for reading; a missing log reads as empty.
  virtual absl::StatusOr<std::unique_ptr<LogFileReader>> OpenReader(
      absl::string_view execution_id) = 0;
  virtual absl::Status Delete(absl::string_view execution_id) = 0;
};

// Logs as files under `dir` (created if missing): one append-only file of
// framed chunks per execution, with a sparse offset index beside it. Readers
// in other processes see what was appended.
AUTOMATE_EXPORT absl::StatusOr<std::unique_ptr<LogStore>> OpenFileLogStore(const std::string& dir);

}  // namespace automate

#endif  // AUTOMATE_LOG_H_
