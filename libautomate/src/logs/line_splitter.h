// Cuts one stream's bytes into log chunks: whole lines with their '\n', and
// lines longer than `max_chunk` into pieces of `max_chunk` bytes. Keeps an
// unfinished line until more bytes or Flush(). Thread-compatible.
#ifndef AUTOMATE_LOGS_LINE_SPLITTER_H_
#define AUTOMATE_LOGS_LINE_SPLITTER_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace automate::internal {

class LineSplitter {
 public:
  // Receives each chunk and the time of its first byte.
  using Emit = absl::FunctionRef<void(absl::string_view, absl::Time)>;

  explicit LineSplitter(size_t max_chunk) : max_chunk_(max_chunk > 0 ? max_chunk : 1) {}

  void Add(absl::string_view data, absl::Time time, Emit emit);
  void Flush(Emit emit);

 private:
  // Adds to partial_ up to a '\n' or max_chunk_; returns the bytes consumed.
  size_t AddToPartial(absl::string_view data, Emit emit);

  const size_t max_chunk_;
  std::string partial_;
  absl::Time partial_time_;
};

}  // namespace automate::internal

#endif  // AUTOMATE_LOGS_LINE_SPLITTER_H_
