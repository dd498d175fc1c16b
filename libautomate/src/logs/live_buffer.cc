#include "logs/live_buffer.h"

#include <algorithm>

namespace automate::internal {

void LiveBuffer::Publish(std::shared_ptr<const LiveBatch> batch) {
  absl::MutexLock lock(&mu_);
  size_ = batch->end;
  ring_bytes_ += batch->bytes;
  ring_.push_back(std::move(batch));
  // Readers holding a dropped batch keep it alive until they have copied it.
  while (ring_.size() > 1 && ring_bytes_ > capacity_) {
    ring_bytes_ -= ring_.front()->bytes;
    ring_.pop_front();
  }
}

void LiveBuffer::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

int64_t LiveBuffer::size() const {
  absl::MutexLock lock(&mu_);
  return size_;
}

bool LiveBuffer::HasDataOrEnd(WaitArgs* args) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return args->self->size_ > args->offset || args->self->closed_;
}

LiveBuffer::Wait LiveBuffer::AwaitData(int64_t offset, absl::Time deadline, Clock* clock) {
  absl::MutexLock lock(&mu_);
  WaitArgs args{this, offset};
  if (!clock->AwaitWithDeadline(&mu_, absl::Condition(&HasDataOrEnd, &args), deadline)) {
    return Wait::kTimeout;
  }
  return size_ > offset ? Wait::kData : Wait::kEnd;
}

bool LiveBuffer::Collect(int64_t offset, size_t max_bytes,
                         std::vector<std::shared_ptr<const LiveBatch>>* batches) {
  absl::MutexLock lock(&mu_);
  if (ring_.empty() || offset < ring_.front()->offset) return false;
  auto it = std::upper_bound(
      ring_.begin(), ring_.end(), offset,
      [](int64_t o, const std::shared_ptr<const LiveBatch>& b) { return o < b->offset; });
  --it;
  size_t bytes = 0;
  for (; it != ring_.end() && bytes < max_bytes; ++it) {
    batches->push_back(*it);
    bytes += static_cast<size_t>((*it)->end - std::max(offset, (*it)->offset));
  }
  return true;
}

int64_t LiveBuffer::CopyFrom(int64_t offset, int64_t end, size_t max_bytes,
                             std::vector<LogChunk>* out) {
  std::vector<std::shared_ptr<const LiveBatch>> batches;
  if (!Collect(offset, max_bytes, &batches)) return -1;
  // Copies happen outside the lock, so the writer is never held up by them.
  int64_t n = 0;
  size_t bytes = 0;
  for (const auto& batch : batches) {
    auto c = std::upper_bound(batch->chunks.begin(), batch->chunks.end(), offset,
                              [](int64_t o, const LogChunk& ch) { return o < ch.offset; });
    if (c != batch->chunks.begin()) --c;
    for (; c != batch->chunks.end(); ++c) {
      const int64_t c_end = c->offset + static_cast<int64_t>(c->data.size());
      if (c_end <= offset) continue;
      if (c->offset >= end) return n;
      const size_t cut = static_cast<size_t>(std::max<int64_t>(0, offset - c->offset));
      if (n > 0 && bytes + c->data.size() - cut > max_bytes) return n;
      out->push_back(LogChunk{c->offset + static_cast<int64_t>(cut), c->time, c->stream,
                              c->data.substr(cut)});
      bytes += c->data.size() - cut;
      ++n;
    }
  }
  return n;
}

}  // namespace automate::internal
