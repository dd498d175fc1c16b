// The ring of recent chunks that all live followers of one execution read
// from. The writer publishes whole batches (the chunks of one Write()) as
// shared immutable objects, so readers only take references under the lock
// and copy outside it: the writer never waits for a reader, and there are no
// per-follower copies in memory. When the ring exceeds its capacity the
// oldest batches go; followers that fall behind read the stored file.
//
// Thread-safety: thread-safe.
#ifndef AUTOMATE_LOGS_LIVE_BUFFER_H_
#define AUTOMATE_LOGS_LIVE_BUFFER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/clock.h"
#include "automate/log.h"

namespace automate::internal {

struct LiveBatch {
  int64_t offset = 0;  // Of chunks.front().
  int64_t end = 0;     // Offset after chunks.back().
  size_t bytes = 0;    // Memory charged to the ring.
  std::vector<LogChunk> chunks;
};

class LiveBuffer {
 public:
  enum class Wait { kData, kEnd, kTimeout };

  // `size` is the log's length when it was opened: bytes before it are only
  // in the file.
  LiveBuffer(size_t capacity, int64_t size) : capacity_(capacity), size_(size) {}

  // REQUIRES: batch->offset == size(), batch not empty.
  void Publish(std::shared_ptr<const LiveBatch> batch);
  // After the last Publish(): waiters at the end get kEnd.
  void Close();

  int64_t size() const;
  // Waits until there are bytes at or after `offset` (kData), the log is
  // closed and `offset` >= size() (kEnd), or `deadline` passes (kTimeout).
  Wait AwaitData(int64_t offset, absl::Time deadline, Clock* clock);
  // Appends chunks from `offset` (the first one cut to start there), about
  // `max_bytes`, at most up to `end`. Returns -1 if the ring no longer
  // holds `offset`, else the number of chunks appended.
  int64_t CopyFrom(int64_t offset, int64_t end, size_t max_bytes, std::vector<LogChunk>* out);

 private:
  struct WaitArgs {
    LiveBuffer* self;
    int64_t offset;
  };
  static bool HasDataOrEnd(WaitArgs* args);
  bool Collect(int64_t offset, size_t max_bytes,
               std::vector<std::shared_ptr<const LiveBatch>>* batches);

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<const LiveBatch>> ring_ ABSL_GUARDED_BY(mu_);
  size_t ring_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t size_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_LIVE_BUFFER_H_
