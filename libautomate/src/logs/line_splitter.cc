#include "logs/line_splitter.h"

#include <cstring>

namespace automate::internal {

void LineSplitter::Add(absl::string_view data, absl::Time time, Emit emit) {
  if (!partial_.empty() && !data.empty()) data.remove_prefix(AddToPartial(data, emit));
  while (!data.empty()) {
    // Whole lines are passed on straight from `data`, without a copy.
    const void* nl = memchr(data.data(), '\n', std::min(data.size(), max_chunk_));
    if (nl != nullptr) {
      size_t len = static_cast<const char*>(nl) - data.data() + 1;
      emit(data.substr(0, len), time);
      data.remove_prefix(len);
    } else if (data.size() >= max_chunk_) {
      emit(data.substr(0, max_chunk_), time);
      data.remove_prefix(max_chunk_);
    } else {
      partial_.assign(data.data(), data.size());
      partial_time_ = time;
      return;
    }
  }
}

size_t LineSplitter::AddToPartial(absl::string_view data, Emit emit) {
  const size_t room = max_chunk_ - partial_.size();
  const size_t scan = std::min(room, data.size());
  const void* nl = memchr(data.data(), '\n', scan);
  const size_t take = nl ? static_cast<const char*>(nl) - data.data() + 1 : scan;
  partial_.append(data.data(), take);
  if (nl != nullptr || partial_.size() >= max_chunk_) Flush(emit);
  return take;
}

void LineSplitter::Flush(Emit emit) {
  if (partial_.empty()) return;
  emit(partial_, partial_time_);
  partial_.clear();
}

}  // namespace automate::internal
