#include "client/sse_parser.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace automate::internal {

absl::Status SseParser::Feed(absl::string_view bytes, std::vector<SseEvent>* events) {
  while (!bytes.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      // "\r\n" is one line end, even when a chunk boundary splits it.
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n");
    absl::string_view part = bytes.substr(0, end);
    if (line_.size() + part.size() > kMaxLine) {
      return absl::ResourceExhaustedError(
          absl::StrCat("event stream: a line is longer than ", kMaxLine, " bytes"));
    }
    if (end == absl::string_view::npos) {
      line_.append(part.data(), part.size());
      break;
    }
    after_cr_ = bytes[end] == '\r';
    if (line_.empty()) {
      Line(part, events);  // The whole line is in this chunk: no copy.
    } else {
      line_.append(part.data(), part.size());
      Line(line_, events);
      line_.clear();
    }
    bytes.remove_prefix(end + 1);
  }
  return absl::OkStatus();
}

void SseParser::Line(absl::string_view line, std::vector<SseEvent>* events) {
  if (first_line_) {
    first_line_ = false;
    absl::ConsumePrefix(&line, "\xEF\xBB\xBF");
  }
  if (line.empty()) {
    // Dispatch. An event without data is dropped, but its id still counts.
    if (!data_.empty()) {
      data_.pop_back();  // The '\n' after the last data line.
      events->push_back(SseEvent{type_.empty() ? std::string("message") : std::move(type_),
                                 std::move(data_), last_id_});
    }
    type_.clear();
    data_.clear();
    return;
  }
  if (line.front() == ':') return;  // A comment, e.g. ": keepalive".
  absl::string_view field = line, value;
  if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    absl::ConsumePrefix(&value, " ");
  }
  if (field == "event") {
    type_ = std::string(value);
  } else if (field == "data") {
    absl::StrAppend(&data_, value, "\n");
  } else if (field == "id") {
    if (value.find('\0') == absl::string_view::npos) last_id_ = std::string(value);
  } else if (field == "retry") {
    long long ms = 0;
    bool digits = !value.empty();
    for (char c : value) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (digits && absl::SimpleAtoi(value, &ms)) retry_ms_ = ms;
  }
  // Other fields are ignored, as the standard says.
}

}  // namespace automate::internal
