// An incremental parser of Server-Sent Events (text/event-stream), as the
// HTML standard defines it: bytes go in as they arrive, cut anywhere, and
// whole events come out.
#ifndef AUTOMATE_CLIENT_SSE_PARSER_H_
#define AUTOMATE_CLIENT_SSE_PARSER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace automate::internal {

struct SseEvent {
  std::string type;  // The `event:` field; "message" when there was none.
  std::string data;  // The `data:` lines joined with '\n'.
  // The last event id when the event was dispatched. Per the standard it
  // carries over from earlier events until an `id:` field changes it.
  std::string id;
};

class SseParser {
 public:
  // Longest line accepted; a longer one is an error, not unbounded memory.
  static constexpr size_t kMaxLine = size_t{64} << 20;

  // Parses `bytes` and appends the events they complete to `events`. A line
  // or event cut at the end of `bytes` is kept until the next call.
  // kResourceExhausted for a line longer than kMaxLine.
  absl::Status Feed(absl::string_view bytes, std::vector<SseEvent>* events);

  const std::string& last_event_id() const { return last_id_; }
  // The last `retry:` value in milliseconds; -1 if none.
  long long retry_ms() const { return retry_ms_; }

 private:
  void Line(absl::string_view line, std::vector<SseEvent>* events);

  std::string line_;        // The current line, not yet ended.
  bool after_cr_ = false;   // The previous byte ended a line with '\r'.
  bool first_line_ = true;  // A byte order mark may start the stream.
  std::string type_;        // Event type buffer.
  std::string data_;        // Data buffer.
  std::string last_id_;     // Last event id buffer.
  long long retry_ms_ = -1;
};

}  // namespace automate::internal

#endif  // AUTOMATE_CLIENT_SSE_PARSER_H_
