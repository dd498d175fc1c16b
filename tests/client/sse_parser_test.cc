#include "client/sse_parser.h"

#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::FieldsAre;

std::vector<SseEvent> ParseAll(const std::string& text) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed(text, &events).ok());
  return events;
}

// The same bytes, cut at every pair of positions, give the same events.
void ExpectSameForEverySplit(const std::string& text, const std::vector<SseEvent>& expected) {
  auto same = [&](const std::vector<SseEvent>& got) {
    if (got.size() != expected.size()) return false;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i].type != expected[i].type || got[i].data != expected[i].data ||
          got[i].id != expected[i].id) {
        return false;
      }
    }
    return true;
  };
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      SseParser parser;
      std::vector<SseEvent> events;
      ASSERT_TRUE(parser.Feed(text.substr(0, a), &events).ok());
      ASSERT_TRUE(parser.Feed(text.substr(a, b - a), &events).ok());
      ASSERT_TRUE(parser.Feed(text.substr(b), &events).ok());
      ASSERT_TRUE(same(events)) << "split at " << a << " and " << b;
    }
  }
  // And one byte at a time.
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : text) ASSERT_TRUE(parser.Feed(std::string(1, c), &events).ok());
  EXPECT_TRUE(same(events)) << "byte by byte";
}

const char kStream[] =
    ": keepalive\n"
    "event: log\n"
    "id: 1042\n"
    "data: {\"offset\":\"1000\",\"data\":\"aGVsbG8K\"}\n"
    "\n"
    ":another comment\n"
    "data: line one\n"
    "data: line two\n"
    "data:no space\n"
    "data\n"
    "\n"
    "event: end\n"
    "data: {\"size\":\"1042\"}\n"
    "\n";

TEST(SseParserTest, EventsAndFields) {
  EXPECT_THAT(ParseAll(kStream),
              ElementsAre(FieldsAre("log", "{\"offset\":\"1000\",\"data\":\"aGVsbG8K\"}", "1042"),
                          FieldsAre("message", "line one\nline two\nno space\n", "1042"),
                          FieldsAre("end", "{\"size\":\"1042\"}", "1042")));
}

TEST(SseParserTest, SplitAnywhereLf) { ExpectSameForEverySplit(kStream, ParseAll(kStream)); }

TEST(SseParserTest, CrLfAndCrAreLineEnds) {
  std::vector<SseEvent> lf = ParseAll(kStream);
  ASSERT_EQ(lf.size(), 3u);
  std::string crlf = absl::StrReplaceAll(kStream, {{"\n", "\r\n"}});
  std::string cr = absl::StrReplaceAll(kStream, {{"\n", "\r"}});
  ExpectSameForEverySplit(crlf, lf);  // Includes a split between '\r' and '\n'.
  ExpectSameForEverySplit(cr, lf);
  // Mixed in one stream.
  ExpectSameForEverySplit("data: a\r\ndata: b\rdata: c\n\r\n",
                          {SseEvent{"message", "a\nb\nc", ""}});
}

TEST(SseParserTest, CrLfSplitDoesNotMakeAnEmptyLine) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: x\r", &events).ok());
  ASSERT_TRUE(parser.Feed("\ndata: y\r", &events).ok());
  EXPECT_TRUE(events.empty()) << "the '\\n' of a split CRLF is not a blank line";
  ASSERT_TRUE(parser.Feed("\n\r\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(FieldsAre("message", "x\ny", "")));
}

TEST(SseParserTest, IdCarriesOverAndEmptyEventsAreDropped) {
  // An event without data is not dispatched, but its id counts.
  auto events = ParseAll("id: 5\n\ndata: a\n\nid: 7\nevent: log\ndata: b\n\nid\ndata: c\n\n");
  EXPECT_THAT(events, ElementsAre(FieldsAre("message", "a", "5"), FieldsAre("log", "b", "7"),
                                  FieldsAre("message", "c", "")));
}

TEST(SseParserTest, IncompleteEventIsKept) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("event: log\ndata: partial", &events).ok());
  EXPECT_TRUE(events.empty());
  ASSERT_TRUE(parser.Feed("\n", &events).ok());
  EXPECT_TRUE(events.empty()) << "no blank line yet";
  ASSERT_TRUE(parser.Feed("\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(FieldsAre("log", "partial", "")));
}

TEST(SseParserTest, EventTypeResetsBetweenEvents) {
  EXPECT_THAT(ParseAll("event: log\ndata: 1\n\ndata: 2\n\n"),
              ElementsAre(FieldsAre("log", "1", ""), FieldsAre("message", "2", "")));
}

TEST(SseParserTest, ByteOrderMarkAndOddFields) {
  using namespace std::string_literals;
  auto events = ParseAll(
      "\xEF\xBB\xBF"
      "data: x\nretry: 2500\nfoo: bar\nretry: x\nid: a\0b\n\n"s);
  EXPECT_THAT(events, ElementsAre(FieldsAre("message", "x", "")));
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.Feed("retry: 2500\ndata: y\n\n", &out).ok());
  EXPECT_EQ(parser.retry_ms(), 2500);
  // A value keeps everything after the first ": ", colons and spaces included.
  EXPECT_THAT(ParseAll("data:  two spaces: here\n\n"),
              ElementsAre(FieldsAre("message", " two spaces: here", "")));
  // Only a leading BOM is dropped.
  EXPECT_THAT(ParseAll("data: \xEF\xBB\xBFx\n\n"),
              ElementsAre(FieldsAre("message", "\xEF\xBB\xBFx", "")));
}

TEST(SseParserTest, DataMayBeEmptyLines) {
  EXPECT_THAT(ParseAll("data\ndata\n\n"), ElementsAre(FieldsAre("message", "\n", "")));
  EXPECT_THAT(ParseAll("data:\n\n"), ElementsAre(FieldsAre("message", "", "")));
}

TEST(SseParserTest, OverlongLineIsAnError) {
  SseParser parser;
  std::vector<SseEvent> events;
  std::string big(1 << 20, 'x');
  absl::Status status;
  for (size_t i = 0; i <= SseParser::kMaxLine / big.size() && status.ok(); ++i) {
    status = parser.Feed(big, &events);
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace automate::internal
