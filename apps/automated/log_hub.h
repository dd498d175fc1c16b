// LogHub: one shared feed per followed execution, so that a thousand
// followers of one log cost one reader and one copy of each event, not a
// thousand.
//
// A Feed's pump thread reads the execution's log from the engine (live while
// it runs), encodes every chunk once as a Server-Sent Event and keeps the
// recent events in a bounded ring. Sessions take shared pointers to those
// events and write them out themselves; a session that is behind the ring
// (it started earlier than the feed, or fell too far behind) catches up from
// the stored log on its own and then rejoins. The ring is large (64 MiB of
// encoded events by default, about 5 s at 10 MB/s) because a follower that
// falls out of it reads, checks and encodes every chunk for itself.
#ifndef AUTOMATED_LOG_HUB_H_
#define AUTOMATED_LOG_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "automate/engine.h"

namespace automated {

// One encoded SSE `log` event covering log bytes [offset, end).
struct LogEvent {
  int64_t offset;
  int64_t end;
  std::string text;
};

// "event: log\nid: END\ndata: {LogRecord JSON}\n\n" for one chunk.
std::string EncodeLogEvent(const automate::LogChunk& chunk);
// "event: end\ndata: {LogEnd JSON}\n\n".
std::string EncodeEndEvent(const automate::v1::Execution& execution, int64_t size);

class Feed {
 public:
  enum class Poll {
    kData,    // `out` has events.
    kBehind,  // `offset` is before the ring: read the stored log.
    kWait,    // Nothing yet past `offset`.
    kEnd,     // Everything was read; `end_event` is set.
  };
  Feed(automate::Engine* engine, std::string id, int64_t start, size_t ring_bytes);
  ~Feed();

  Poll Collect(int64_t offset, size_t max_bytes, std::vector<std::shared_ptr<const LogEvent>>* out,
               std::string* end_event);
  // Calls `wake` once, from any thread, when there may be something past
  // `offset` (possibly at once). Sessions pass a function that posts to
  // their own executor.
  void NotifyPast(int64_t offset, std::function<void()> wake);

  // Asks the pump to stop (it does within about 0.5 s); the destructor waits.
  void Stop();
  void AddSubscriber();
  void RemoveSubscriber();
  bool Idle() const;  // No subscriber for a while, or the pump stopped.

 private:
  void Pump();
  void WakeAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  automate::Engine* engine_;
  const std::string id_;
  const size_t ring_bytes_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<const LogEvent>> ring_ ABSL_GUARDED_BY(mu_);
  size_t ring_size_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t first_ ABSL_GUARDED_BY(mu_);  // Offset of ring_.front() (or end_ when empty).
  int64_t end_ ABSL_GUARDED_BY(mu_);    // Offset after the last event.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::string end_event_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> waiters_ ABSL_GUARDED_BY(mu_);
  int subscribers_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time unsubscribed_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool pump_done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread pump_;
};

class LogHub {
 public:
  explicit LogHub(automate::Engine* engine, size_t ring_bytes = 64 << 20)
      : engine_(engine), ring_bytes_(ring_bytes) {}
  // The feed of `id`, created (starting at `offset`) if none is live.
  std::shared_ptr<Feed> Subscribe(const std::string& id, int64_t offset);
  // Stops every feed (shutdown).
  void Clear();

 private:
  automate::Engine* engine_;
  const size_t ring_bytes_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Feed>> feeds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace automated

#endif  // AUTOMATED_LOG_HUB_H_
