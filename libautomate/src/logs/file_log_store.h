// The file-backed LogStore: one append-only `<id>.log` of framed records
// (see log_record.h) and one sparse `<id>.idx` per execution.
//
// The index holds 16-byte entries {i64 offset, i64 file position}, one per
// >= 64 KiB of data, so ReadAt() seeks in O(log n) plus at most 64 KiB of
// scanning. It is only a hint: readers check that an entry points at a record
// with that offset, and OpenWriter() rebuilds what is missing.
//
// Crash safety: records are written with one writev() each batch and no
// userspace buffer, so a killed process loses nothing it appended, and readers
// in other processes see each record as soon as Append() returns. A torn tail
// (power loss, or a kill inside writev) is an incomplete or mis-checksummed
// last record; OpenWriter() cuts it off. One writer per log at a time.
//
// Thread-safety: the store and its writers are thread-safe; a LogFileReader
// is used by one thread at a time.
#ifndef AUTOMATE_LOGS_FILE_LOG_STORE_H_
#define AUTOMATE_LOGS_FILE_LOG_STORE_H_

#include <cstddef>

#include "absl/status/status.h"
#include "automate/log.h"

namespace automate::internal {

// A LogWriter that can store many chunks with one system call. ExecutionLog
// uses it when the store's writer implements it: 100-byte lines one write()
// each would be bound by system-call cost.
class BatchLogWriter : public LogWriter {
 public:
  // Same contract as Append() for each of `chunks[0..n)`, in order. On error
  // nothing of the batch is stored.
  virtual absl::Status AppendBatch(const LogChunk* chunks, size_t n) = 0;
};

// Errors: kInvalidArgument for ids that are empty, too long, or hold
// characters other than [A-Za-z0-9._-] or start with '.'.
absl::Status ValidateLogId(absl::string_view execution_id);

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_FILE_LOG_STORE_H_
