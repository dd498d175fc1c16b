// The queue of executions waiting for a slot: highest priority first, FIFO
// within one priority, skipping jobs that are at their concurrency limit so
// one busy job never blocks the others (no head-of-line blocking).
//
// Thread-safety: none; the engine guards it with its mutex.
#ifndef AUTOMATE_ENGINE_RUN_QUEUE_H_
#define AUTOMATE_ENGINE_RUN_QUEUE_H_

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace automate::internal {

class RunQueue {
 public:
  struct Entry {
    std::string id;
    std::string job;
    int priority = 0;
    uint64_t seq = 0;   // Admission order; FIFO within a priority.
    int job_limit = 0;  // The job's concurrency limit; 0: none.
  };

  void Push(Entry entry);
  // Returns false if `id` is not queued.
  bool Remove(const std::string& id);
  bool Contains(const std::string& id) const { return by_id_.contains(id); }

  // Removes and returns, in order, the entries that may start now: at most
  // `free_slots`, and for each job no more than its limit minus
  // `running_per_job[job]`.
  std::vector<Entry> PopStartable(int free_slots,
                                  const absl::flat_hash_map<std::string, int>& running_per_job);

  size_t size() const { return by_id_.size(); }
  bool empty() const { return by_id_.empty(); }

 private:
  using Key = std::tuple<int, uint64_t, std::string>;  // (-priority, seq, id)
  static Key KeyOf(const Entry& e) { return Key(-e.priority, e.seq, e.id); }

  std::set<Key> order_;
  absl::flat_hash_map<std::string, Entry> by_id_;
};

}  // namespace automate::internal

#endif  // AUTOMATE_ENGINE_RUN_QUEUE_H_
