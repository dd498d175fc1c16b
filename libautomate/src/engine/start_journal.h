// StartJournal: the dispatching engine notes each attempt here, with one
// write() and no fsync, just before it asks the executor to start it. The
// store learns of the start only with the writer's next batch (up to
// write_interval later): if the engine dies in between, the next engine
// finds the start here, and reconciles the attempt as a running one
// (reattached, or lost and retried per the job's policy) instead of
// starting the execution afresh as if it had never run.
//
// A line per start: "<execution id> <attempt> <log offset> <unix ns>\n".
// A torn last line (the engine died inside the write) is ignored: its start
// had not begun. Lines whose starts the store has recorded are dropped by
// Compact(). It survives the engine process, not the machine: after a power
// loss an attempt whose start the store lacks may run again.
#ifndef AUTOMATE_ENGINE_START_JOURNAL_H_
#define AUTOMATE_ENGINE_START_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace automate::internal {

class StartJournal {
 public:
  struct Entry {
    std::string execution_id;
    int attempt = 0;
    int64_t log_offset = 0;
    absl::Time time;
  };

  // Opens (creating it if needed) and reads the journal at `path`.
  static absl::StatusOr<std::unique_ptr<StartJournal>> Open(const std::string& path);
  ~StartJournal();
  StartJournal(const StartJournal&) = delete;
  StartJournal& operator=(const StartJournal&) = delete;

  // Every start noted and not yet dropped, oldest first.
  std::vector<Entry> Entries() const;

  // Appends `entry`; when this returns OK, the line is in the file.
  absl::Status Record(const Entry& entry);

  // Rewrites the journal with the entries `keep` selects (called with every
  // entry, under the journal's lock: no Record() interleaves); leaves the
  // file alone if `keep` drops none.
  absl::Status Compact(const std::function<std::vector<Entry>(std::vector<Entry>)>& keep);

  // Bytes in the file. Takes no lock: callable under any.
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  StartJournal(std::string path, int fd, std::vector<Entry> entries, int64_t bytes)
      : path_(std::move(path)), fd_(fd), entries_(std::move(entries)), bytes_(bytes) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> bytes_;  // Written under mu_.
  // A failed write left part of a line that ftruncate() could not remove.
  bool torn_ ABSL_GUARDED_BY(mu_) = false;
};

// Parses one line (without its '\n'); false if it is not a journal line.
bool ParseStartJournalLine(absl::string_view line, StartJournal::Entry* entry);

}  // namespace automate::internal

#endif  // AUTOMATE_ENGINE_START_JOURNAL_H_
