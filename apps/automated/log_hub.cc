#include "log_hub.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "automate/execution.h"
#include "automate/json.h"
#include "automate/v1/api.pb.h"
#include "google/protobuf/util/json_util.h"

namespace automated {
namespace v1 = automate::v1;

std::string EncodeLogEvent(const automate::LogChunk& chunk) {
  // The LogRecord JSON mapping written by hand: this runs for every chunk.
  int64_t end = chunk.offset + static_cast<int64_t>(chunk.data.size());
  return absl::StrCat("event: log\nid: ", end, "\ndata: {\"offset\":\"", chunk.offset,
                      "\",\"time\":\"", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", chunk.time, absl::UTCTimeZone()),
                      "\",\"stream\":\"", v1::LogStream_Name(chunk.stream), "\",\"data\":\"",
                      absl::Base64Escape(chunk.data), "\"}\n\n");
}

std::string EncodeEndEvent(const v1::Execution& execution, int64_t size) {
  v1::LogEnd end;
  *end.mutable_execution() = execution;
  end.set_size(size);
  absl::StatusOr<std::string> json = automate::MessageToJson(end);
  return absl::StrCat("event: end\ndata: ", json.ok() ? *json : "{}", "\n\n");
}

Feed::Feed(automate::Engine* engine, std::string id, int64_t start, size_t ring_bytes)
    : engine_(engine), id_(std::move(id)), ring_bytes_(ring_bytes), first_(start), end_(start) {
  pump_ = std::thread([this] { Pump(); });
}

Feed::~Feed() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  pump_.join();
}

void Feed::WakeAll() {
  std::vector<std::function<void()>> waiters;
  waiters.swap(waiters_);
  for (auto& wake : waiters) wake();
}

void Feed::Pump() {
  int64_t start;
  {
    absl::MutexLock lock(&mu_);
    start = end_;
  }
  absl::StatusOr<std::unique_ptr<automate::LogReader>> reader = engine_->OpenLog(id_, start, true);
  std::vector<automate::LogChunk> chunks;
  absl::Status status = reader.status();
  while (status.ok()) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      // Nobody has listened for 10 s: stop; the hub makes a new feed if needed.
      if (subscribers_ == 0 && absl::Now() - unsubscribed_since_ > absl::Seconds(10)) break;
    }
    chunks.clear();
    absl::StatusOr<size_t> n = (*reader)->Read(&chunks, 1 << 20, absl::Now() + absl::Milliseconds(500));
    if (!n.ok()) {
      status = n.status();
      break;
    }
    if (chunks.empty()) continue;
    std::vector<std::shared_ptr<const LogEvent>> events;
    for (const automate::LogChunk& c : chunks) {
      events.push_back(std::make_shared<const LogEvent>(
          LogEvent{c.offset, c.offset + static_cast<int64_t>(c.data.size()), EncodeLogEvent(c)}));
    }
    absl::MutexLock lock(&mu_);
    for (auto& e : events) {
      ring_size_ += e->text.size();
      end_ = e->end;
      ring_.push_back(std::move(e));
    }
    while (ring_.size() > 1 && ring_size_ > ring_bytes_) {
      ring_size_ -= ring_.front()->text.size();
      ring_.pop_front();
    }
    first_ = ring_.empty() ? end_ : ring_.front()->offset;
    WakeAll();
  }
  absl::MutexLock lock(&mu_);
  if (status.code() == absl::StatusCode::kOutOfRange) {
    // The execution is final and everything was read.
    absl::StatusOr<v1::Execution> exec = engine_->GetExecution(id_);
    if (exec.ok()) {
      ended_ = true;
      end_event_ = EncodeEndEvent(*exec, end_);
    }
  }
  pump_done_ = true;
  WakeAll();
}

Feed::Poll Feed::Collect(int64_t offset, size_t max_bytes,
                         std::vector<std::shared_ptr<const LogEvent>>* out, std::string* end_event) {
  absl::MutexLock lock(&mu_);
  if (offset < first_) return Poll::kBehind;
  if (offset >= end_) {
    if (ended_) {
      *end_event = end_event_;
      return Poll::kEnd;
    }
    // A stopped pump (error, or the engine shut down) has nothing more.
    return pump_done_ ? Poll::kBehind : Poll::kWait;
  }
  // Binary search for the event holding `offset`.
  size_t lo = 0, hi = ring_.size();
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (ring_[mid]->offset <= offset) lo = mid; else hi = mid;
  }
  size_t bytes = 0;
  for (size_t i = lo; i < ring_.size() && bytes < max_bytes; ++i) {
    out->push_back(ring_[i]);
    bytes += ring_[i]->text.size();
  }
  return Poll::kData;
}

void Feed::NotifyPast(int64_t offset, std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  if (end_ > offset || ended_ || pump_done_) {
    wake();
    return;
  }
  waiters_.push_back(std::move(wake));
}

void Feed::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

void Feed::AddSubscriber() {
  absl::MutexLock lock(&mu_);
  ++subscribers_;
}

void Feed::RemoveSubscriber() {
  absl::MutexLock lock(&mu_);
  if (--subscribers_ == 0) unsubscribed_since_ = absl::Now();
}

bool Feed::Idle() const {
  absl::MutexLock lock(&mu_);
  return pump_done_ || (subscribers_ == 0 && absl::Now() - unsubscribed_since_ > absl::Seconds(10));
}

std::shared_ptr<Feed> LogHub::Subscribe(const std::string& id, int64_t offset) {
  std::vector<std::shared_ptr<Feed>> dead;  // Destroyed outside the lock (joins).
  std::shared_ptr<Feed> feed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = feeds_.begin(); it != feeds_.end();) {
      if (it->first != id && it->second->Idle()) {
        dead.push_back(std::move(it->second));
        feeds_.erase(it++);
      } else {
        ++it;
      }
    }
    auto it = feeds_.find(id);
    if (it != feeds_.end() && !it->second->Idle()) {
      feed = it->second;
    } else {
      if (it != feeds_.end()) dead.push_back(std::move(it->second));
      feed = std::make_shared<Feed>(engine_, id, offset, ring_bytes_);
      feeds_[id] = feed;
    }
    feed->AddSubscriber();
  }
  return feed;
}

void LogHub::Clear() {
  absl::flat_hash_map<std::string, std::shared_ptr<Feed>> feeds;
  {
    absl::MutexLock lock(&mu_);
    feeds.swap(feeds_);
  }
  // All pumps stop at once; then each destructor's join is short.
  for (auto& [id, feed] : feeds) feed->Stop();
}

}  // namespace automated
