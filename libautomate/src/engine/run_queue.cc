#include "engine/run_queue.h"

#include <utility>

#include "absl/container/flat_hash_set.h"

namespace automate::internal {

void RunQueue::Push(Entry entry) {
  order_.insert(KeyOf(entry));
  std::string id = entry.id;
  by_id_[id] = std::move(entry);
}

bool RunQueue::Remove(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  order_.erase(KeyOf(it->second));
  by_id_.erase(it);
  return true;
}

std::vector<RunQueue::Entry> RunQueue::PopStartable(
    int free_slots, const absl::flat_hash_map<std::string, int>& running_per_job) {
  std::vector<Entry> out;
  absl::flat_hash_map<std::string, int> taken;  // Started in this call, per job.
  absl::flat_hash_set<std::string> full;        // Jobs at their limit.
  for (auto it = order_.begin(); it != order_.end() && static_cast<int>(out.size()) < free_slots;) {
    const Entry& entry = by_id_.at(std::get<2>(*it));
    if (full.contains(entry.job)) {
      ++it;
      continue;
    }
    if (entry.job_limit > 0) {
      auto running = running_per_job.find(entry.job);
      int busy = (running == running_per_job.end() ? 0 : running->second) + taken[entry.job];
      if (busy >= entry.job_limit) {
        full.insert(entry.job);
        ++it;
        continue;
      }
    }
    ++taken[entry.job];
    out.push_back(entry);
    by_id_.erase(entry.id);
    it = order_.erase(it);
  }
  return out;
}

}  // namespace automate::internal
