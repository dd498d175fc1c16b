#include "client/wire.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "automate/v1/api.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(WireTest, NormalizeServerUrl) {
  for (const char* good : {"http://127.0.0.1:8080", "https://example.com", "http://h:1/",
                           "https://example.com/automate/", "http://[::1]:8080"}) {
    EXPECT_TRUE(NormalizeServerUrl(good).ok()) << good;
  }
  EXPECT_EQ(*NormalizeServerUrl("http://h:8080/"), "http://h:8080");
  EXPECT_EQ(*NormalizeServerUrl("https://h/prefix//"), "https://h/prefix");
  for (const char* bad :
       {"", "127.0.0.1:8080", "ftp://h", "http://", "http://:80", "http://h:0", "http://h:99999",
        "http://h:x", "http://user:pw@h:1", "http://h:1?x=1", "http://h :1", "http://h:1/#f"}) {
    absl::StatusOr<std::string> url = NormalizeServerUrl(bad);
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(NormalizeServerUrl("http://user:pw@h:1").status().message(),
              HasSubstr("use a token"));
}

TEST(WireTest, UrlEscapeAndQuery) {
  EXPECT_EQ(UrlEscape("db-backup_1.x~"), "db-backup_1.x~");
  EXPECT_EQ(UrlEscape("a/b c?d&e=f%"), "a%2Fb%20c%3Fd%26e%3Df%25");
  EXPECT_EQ(UrlEscape("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(Query().str(), "");
  EXPECT_EQ(Query().Add("offset", "10").Add("follow", "true").str(), "?offset=10&follow=true");
  EXPECT_EQ(Query().Add("a b", "c&d").str(), "?a%20b=c%26d");
}

TEST(WireTest, ExecutionsQuery) {
  ExecutionFilter filter;
  EXPECT_EQ(*ExecutionsQuery(filter), "?limit=100");
  filter.job = "db-backup";
  filter.states = {v1::QUEUED, v1::RUNNING};
  filter.since = absl::FromCivil(absl::CivilSecond(2026, 11, 28, 10, 0, 0), absl::UTCTimeZone()) +
                 absl::Milliseconds(250);
  filter.limit = 20;
  filter.page_token = "tok/1";
  EXPECT_EQ(*ExecutionsQuery(filter),
            "?job=db-backup&state=queued%2Crunning&since=2026-11-28T10%3A00%3A00.25%2B00%3A00"
            "&limit=20&page_token=tok%2F1");
  filter.oldest_first = true;
  absl::StatusOr<std::string> refused = ExecutionsQuery(filter);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("oldest_first"));
}

TEST(WireTest, FilterPageCancelRequested) {
  ExecutionPage page;
  page.executions.resize(3);
  page.executions[1].set_cancel_requested(true);
  page.executions[1].set_id("b");
  ExecutionFilter filter;
  FilterPage(filter, &page);
  EXPECT_EQ(page.executions.size(), 3u);
  filter.cancel_requested_only = true;
  FilterPage(filter, &page);
  ASSERT_EQ(page.executions.size(), 1u);
  EXPECT_EQ(page.executions[0].id(), "b");
}

TEST(WireTest, FormatWait) {
  EXPECT_EQ(FormatWait(absl::Seconds(30)), "30s");
  EXPECT_EQ(FormatWait(absl::Milliseconds(1500)), "1.500s");
  EXPECT_EQ(FormatWait(absl::Microseconds(1)), "0.001s") << "rounded up, never 0";
  EXPECT_EQ(FormatWait(absl::Milliseconds(250)), "0.250s");
  EXPECT_EQ(FormatWait(-absl::Seconds(1)), "0s");
}

TEST(WireTest, StatusFromErrorBody) {
  absl::Status s = StatusFromHttpError(
      404, R"({"code":"NOT_FOUND","message":"job \"x\" not found","details":[]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "job \"x\" not found");
  // The body's code wins over the HTTP status (409 is also ALREADY_EXISTS).
  s = StatusFromHttpError(409, R"({"code":"ALREADY_EXISTS","message":"m"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  // The message is kept verbatim, several lines included.
  s = StatusFromHttpError(
      400,
      R"({"code":"INVALID_ARGUMENT","message":"argument \"WHO\": required\nargument \"FOO\": no such param","details":[{"field":"args.WHO","problem":"required"}]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "argument \"WHO\": required\nargument \"FOO\": no such param");
  // Version mismatch: 400 with FAILED_PRECONDITION.
  s = StatusFromHttpError(
      400, R"({"code":"FAILED_PRECONDITION","message":"client API version 1 is too old"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  // Unknown fields of a newer server are fine.
  s = StatusFromHttpError(403, R"({"code":"PERMISSION_DENIED","message":"no","requestId":"r1"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "no");
}

TEST(WireTest, StatusFromHttpWithoutErrorBody) {
  struct Case {
    int http;
    absl::StatusCode code;
  };
  for (Case c :
       {Case{400, absl::StatusCode::kInvalidArgument},
        Case{401, absl::StatusCode::kUnauthenticated},
        Case{403, absl::StatusCode::kPermissionDenied}, Case{404, absl::StatusCode::kNotFound},
        Case{409, absl::StatusCode::kFailedPrecondition},
        Case{413, absl::StatusCode::kResourceExhausted}, Case{416, absl::StatusCode::kOutOfRange},
        Case{429, absl::StatusCode::kResourceExhausted},
        Case{418, absl::StatusCode::kFailedPrecondition}, Case{500, absl::StatusCode::kInternal},
        Case{502, absl::StatusCode::kUnavailable}, Case{503, absl::StatusCode::kUnavailable},
        Case{504, absl::StatusCode::kDeadlineExceeded}}) {
    absl::Status s = StatusFromHttpError(c.http, "");
    EXPECT_EQ(s.code(), c.code) << c.http;
    EXPECT_EQ(s.message(), absl::StrCat("the server answered HTTP ", c.http));
  }
  // A proxy's text is quoted (first line, bounded); HTML is not.
  absl::Status s = StatusFromHttpError(502, "upstream connect error\nmore");
  EXPECT_EQ(s.message(), "the server answered HTTP 502: upstream connect error");
  s = StatusFromHttpError(502, "<html><body>Bad Gateway</body></html>");
  EXPECT_EQ(s.message(), "the server answered HTTP 502");
  s = StatusFromHttpError(500, std::string(1000, 'x'));
  EXPECT_EQ(s.message().size(), std::string("the server answered HTTP 500: ").size() + 200);
  // An unknown code name falls back to the HTTP status.
  s = StatusFromHttpError(404, R"({"code":"NO_SUCH_CODE","message":"gone"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "gone");
}

TEST(WireTest, StatusCodeFromName) {
  absl::StatusCode code;
  ASSERT_TRUE(StatusCodeFromName("DEADLINE_EXCEEDED", &code));
  EXPECT_EQ(code, absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(StatusCodeFromName("UNAUTHENTICATED", &code));
  EXPECT_EQ(code, absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(StatusCodeFromName("not_found", &code));
}

TEST(WireTest, JsonBodies) {
  v1::SubmitExecutionRequest request;
  (*request.mutable_args())["DATABASE"] = "orders";
  request.set_job_version(3);
  EXPECT_EQ(ToJsonBody(request), R"({"args":{"DATABASE":"orders"},"jobVersion":"3"})");
  v1::Execution exec;
  AUTOMATE_ASSERT_OK(ParseJsonBody(
      R"({"id":"X","job_version":"2","state":"SUCCEEDED","logBytes":"5","newField":1})", &exec,
      "Execution"));
  EXPECT_EQ(exec.job_version(), 2);
  EXPECT_EQ(exec.state(), v1::SUCCEEDED);
  absl::Status bad = ParseJsonBody("{\"state\": 12.5", &exec, "Execution");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(bad.message(), HasSubstr("not a valid Execution"));
}

}  // namespace
}  // namespace automate::internal
