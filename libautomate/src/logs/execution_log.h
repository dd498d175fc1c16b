// The log of one execution while an engine holds it open: the LogSink that
// executors write to, and the source for live followers.
//
// Pipeline for executor output, per stream (stdout and stderr apart):
//   raw bytes -> secret masking (values, their base64 and URL-encoded forms
//   become "****"; a match split across writes is still caught) -> cut into
//   lines ('\n' kept), lines longer than max_chunk_bytes cut into chunks ->
//   log limit -> appended to the LogWriter with offset and time -> fanned out
//   to followers.
// SYSTEM lines from the engine (WriteSystem) go through masking and into the
// same sequence, but never count against the limit.
//
// Followers read from any offset: what the live ring still holds comes from
// memory, older bytes from the stored file, so a slow follower never blocks
// the writer or other followers; it only falls back to reading the file.
//
// Thread-safety: thread-safe. Ownership: shared by the engine and readers.
#ifndef AUTOMATE_LOGS_EXECUTION_LOG_H_
#define AUTOMATE_LOGS_EXECUTION_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/clock.h"
#include "automate/log.h"
#include "automate/v1/job.pb.h"

namespace automate::internal {

struct ExecutionLogOptions {
  Clock* clock = Clock::Real();
  // Stored bytes of STDOUT/STDERR allowed (including what earlier attempts
  // or an earlier engine wrote); 0 means unlimited.
  int64_t limit_bytes = 0;
  v1::LogLimit::Action limit_action = v1::LogLimit::TRUNCATE;
  // Called once, from the writing thread, when the limit is reached and the
  // action is FAIL. Must not call back into this ExecutionLog.
  std::function<void()> on_limit_exceeded;
  std::vector<std::string> secret_values;  // Masked; empty ones ignored.
  size_t max_chunk_bytes = 64 * 1024;
  size_t live_buffer_bytes = 8 * 1024 * 1024;  // Ring kept for followers.
  // No log of this id exists yet (an execution this engine has just created):
  // the store's writer is opened by the first bytes, not by Open(), so an
  // execution that writes nothing costs the log store nothing.
  bool new_log = false;
};

class ExecutionLog : public LogSink {
 public:
  // Opens (or reopens after a restart, appending) the log of `execution_id`.
  // `store` must outlive the ExecutionLog and its readers.
  static absl::StatusOr<std::shared_ptr<ExecutionLog>> Open(LogStore* store,
                                                            absl::string_view execution_id,
                                                            ExecutionLogOptions options);
  ~ExecutionLog() override;

  // LogSink: raw executor output.
  void Write(v1::LogStream stream, absl::string_view data,
             absl::Time source_time = absl::InfinitePast()) override;

  // Emits held-back bytes of both streams (a last line without '\n', a
  // possible secret prefix) as chunks. Call when an attempt ends.
  void FlushStreams();

  // Writes one SYSTEM line (a '\n' is added if missing), after FlushStreams().
  void WriteSystem(absl::string_view line);

  // Changes the masked values (a new attempt may have new secret values).
  void SetSecretValues(std::vector<std::string> values);

  // Resets the per-attempt truncation state so a new attempt may log again
  // while the total stays under the limit.
  void StartAttempt();

  // FlushStreams(), then fsyncs the file. Followers keep waiting.
  absl::Status Sync();

  // No more writes: FlushStreams(), fsync, and followers get end-of-stream
  // after the last byte. Idempotent.
  absl::Status Close();

  int64_t size() const;
  // First write error (disk full...), if any; writes after it are dropped.
  absl::Status status() const;

  // A reader from `offset`. With `follow` it waits for new bytes until
  // Close(); without, it ends at the current end.
  std::unique_ptr<LogReader> NewReader(int64_t offset, bool follow);

 private:
  class Impl;
  explicit ExecutionLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What the stored log of `execution_id` holds from `from_offset` on (one
// attempt's output): bytes of stdout and of stderr (as masked), and the time
// of the last of their chunks (system lines do not count; InfinitePast() if
// there is none). An executor resumes a backend's log after it (see
// ReattachParams). One pass over the stored chunks.
struct StoredOutput {
  int64_t stdout_bytes = 0;
  int64_t stderr_bytes = 0;
  absl::Time last_time = absl::InfinitePast();
};
absl::StatusOr<StoredOutput> ReadStoredOutput(LogStore* store, absl::string_view execution_id,
                                              int64_t from_offset);

// A reader for a log that no ExecutionLog of this process holds: reads the
// stored file, and with `follow` polls it every `poll_interval` until
// `is_final()` returns true and everything stored has been read (is_final is
// asked before the last read, so nothing written before the end is missed).
std::unique_ptr<LogReader> NewStoredLogReader(LogStore* store, absl::string_view execution_id,
                                              int64_t offset, bool follow,
                                              std::function<absl::StatusOr<bool>()> is_final,
                                              absl::Duration poll_interval, Clock* clock);

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_EXECUTION_LOG_H_
