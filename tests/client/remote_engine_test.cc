// The remote engine against a scripted fake server: routes, headers,
// keep-alive, error mapping, version checks, Wait's long poll, and the
// log stream's reconnection.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "automate/client.h"
#include "automate/v1/api.pb.h"
#include "client/fake_http_server.h"
#include "client/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using ::automate_testing::FakeConnection;
using ::automate_testing::FakeHttpServer;
using ::automate_testing::FakeRequest;
using ::automate_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "atk_secret_token_value";
constexpr char kPing[] = R"({"version":"0.3.0","apiVersion":1,"minClientApiVersion":1})";

std::unique_ptr<Engine> Open(const std::string& url, absl::Duration timeout = absl::Seconds(5)) {
  RemoteOptions options;
  options.server = url;
  options.token = kToken;
  options.timeout = timeout;
  absl::StatusOr<std::unique_ptr<Engine>> engine = OpenRemoteEngine(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::string ErrorJson(const std::string& code, const std::string& message) {
  v1::Error error;
  error.set_code(code);
  error.set_message(message);
  return internal::ToJsonBody(error);
}

// An SSE `log` event for `data` at `offset`.
std::string LogEvent(int64_t offset, const std::string& data, v1::LogStream stream = v1::STDOUT) {
  return absl::StrCat("event: log\nid: ", offset + static_cast<int64_t>(data.size()),
                      "\ndata: {\"offset\":\"", offset,
                      "\",\"time\":\"2026-11-28T10:00:00Z\","
                      "\"stream\":\"",
                      v1::LogStream_Name(stream), "\",\"data\":\"", absl::Base64Escape(data),
                      "\"}\n\n");
}

std::string EndEvent(int64_t size) {
  return absl::StrCat(
      "event: end\ndata: {\"execution\":{\"id\":\"E\",\"state\":\"SUCCEEDED\"},"
      "\"size\":\"",
      size, "\"}\n\n");
}

const char kSseHeaders[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nAutomate-Api-Version: 1\r\n"
    "Connection: close\r\n\r\n";

// Reads everything until the end of the stream.
absl::StatusOr<std::vector<LogChunk>> ReadAll(LogReader& reader, size_t max_bytes = 1 << 20) {
  std::vector<LogChunk> chunks;
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up) {
    absl::StatusOr<size_t> n = reader.Read(&chunks, max_bytes, absl::Now() + absl::Seconds(1));
    if (!n.ok()) {
      if (n.status().code() == absl::StatusCode::kOutOfRange) return chunks;
      return n.status();
    }
  }
  return absl::DeadlineExceededError("stream did not end");
}

std::string Joined(const std::vector<LogChunk>& chunks) {
  std::string all;
  int64_t expect = -1;
  for (const LogChunk& c : chunks) {
    if (expect >= 0) {
      EXPECT_EQ(c.offset, expect) << "offsets are contiguous";
    }
    expect = c.offset + static_cast<int64_t>(c.data.size());
    all += c.data;
  }
  return all;
}

TEST(RemoteEngineTest, RoutesHeadersAndKeepAlive) {
  FakeHttpServer server([](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
    } else if (r.method == "GET" && r.path == "/v1/jobs") {
      c.Respond(200, R"({"jobs":[{"spec":{"name":"a"},"version":"2"}]})");
    } else if (r.method == "GET" && r.path == "/v1/jobs/a%20b") {
      c.Respond(200, R"({"spec":{"name":"a b"},"version":"3"})");
    } else if (r.method == "PUT" && r.path == "/v1/jobs/a") {
      c.Respond(201, absl::StrCat(R"({"version":"1","spec":)", r.body, "}"));
    } else if (r.path == "/v1/jobs/a/versions") {
      c.Respond(200, R"({"versions":[{"version":"3"},{"version":"2"},{"version":"1"}]})");
    } else if (r.method == "DELETE" && r.path == "/v1/jobs/a") {
      c.Respond(204, "");
    } else if (r.method == "POST" && r.path == "/v1/jobs/a/executions") {
      c.Respond(201, R"({"id":"E1","job":"a","state":"PENDING","requestedBy":"ci"})",
                "application/json", "Location: /v1/executions/E1\r\n");
    } else if (r.method == "POST" && r.path == "/v1/executions/E1/cancel") {
      c.Respond(202, R"({"id":"E1","state":"CANCELLED"})");
    } else if (r.method == "GET" && r.path == "/v1/executions/E1") {
      c.Respond(200, R"({"id":"E1","state":"RUNNING"})");
    } else if (r.method == "GET" && r.path == "/v1/executions") {
      c.Respond(
          200,
          R"({"executions":[{"id":"E2"},{"id":"E1","cancelRequested":true}],"nextPageToken":"p2"})");
    } else if (r.method == "PUT" && r.path == "/v1/secrets/S") {
      c.Respond(204, "");
    } else if (r.method == "DELETE" && r.path == "/v1/secrets/S") {
      c.Respond(204, "");
    } else if (r.method == "GET" && r.path == "/v1/secrets") {
      c.Respond(200, R"({"secrets":[{"name":"S","createTime":"2026-11-28T10:00:00Z"}]})");
    } else {
      c.Respond(404, ErrorJson("NOT_FOUND", "no route"));
    }
  });
  ASSERT_TRUE(server.ok());
  auto engine = Open(server.url() + "/");
  ASSERT_NE(engine, nullptr);

  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto jobs, engine->ListJobs());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].spec().name(), "a");
  EXPECT_EQ(jobs[0].version(), 2);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto job, engine->GetJob("a b", 3));
  EXPECT_EQ(job.version(), 3);
  v1::JobSpec spec;
  spec.set_name("a");
  spec.mutable_executor()->mutable_local()->add_command("true");
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto applied, engine->ApplyJob(spec));
  EXPECT_EQ(applied.spec().executor().local().command(0), "true");
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto versions, engine->ListJobVersions("a"));
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].version(), 1) << "oldest first, like a local engine";
  AUTOMATE_EXPECT_OK(engine->DeleteJob("a"));

  SubmitRequest submit;
  submit.job = "a";
  submit.args = {{"X", "1"}};
  submit.job_version = 2;
  submit.requested_by = "someone";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto exec, engine->Submit(submit));
  EXPECT_EQ(exec.id(), "E1");
  AUTOMATE_EXPECT_OK(engine->Cancel("E1"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto got, engine->GetExecution("E1"));
  EXPECT_EQ(got.state(), v1::RUNNING);

  ExecutionFilter filter;
  filter.job = "a";
  filter.states = {v1::RUNNING};
  filter.limit = 5;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto page, engine->ListExecutions(filter));
  EXPECT_EQ(page.executions.size(), 2u);
  EXPECT_EQ(page.next_page_token, "p2");
  filter.cancel_requested_only = true;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, engine->ListExecutions(filter));
  ASSERT_EQ(page.executions.size(), 1u);
  EXPECT_EQ(page.executions[0].id(), "E1");
  filter.oldest_first = true;
  EXPECT_EQ(engine->ListExecutions(filter).status().code(), absl::StatusCode::kInvalidArgument);

  AUTOMATE_EXPECT_OK(engine->SetSecret("S", "v4lue"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto secrets, engine->ListSecrets());
  ASSERT_EQ(secrets.size(), 1u);
  EXPECT_EQ(secrets[0].name(), "S");
  AUTOMATE_EXPECT_OK(engine->DeleteSecret("S"));
  EXPECT_EQ(engine->ActiveCount(), 0);
  engine->Shutdown();

  std::vector<FakeRequest> requests = server.requests();
  std::vector<std::string> seen;
  for (const FakeRequest& r : requests) seen.push_back(r.method + " " + r.target);
  EXPECT_THAT(seen, ::testing::ElementsAre(
                        "GET /ping", "GET /v1/jobs", "GET /v1/jobs/a%20b?version=3",
                        "PUT /v1/jobs/a", "GET /v1/jobs/a/versions", "DELETE /v1/jobs/a",
                        "POST /v1/jobs/a/executions", "POST /v1/executions/E1/cancel",
                        "GET /v1/executions/E1", "GET /v1/executions?job=a&state=running&limit=5",
                        "GET /v1/executions?job=a&state=running&limit=5", "PUT /v1/secrets/S",
                        "GET /v1/secrets", "DELETE /v1/secrets/S"));
  for (const FakeRequest& r : requests) {
    EXPECT_EQ(r.Header("automate-client-api-version"), "2") << r.target;
    EXPECT_EQ(r.Header("authorization"), absl::StrCat("Bearer ", kToken)) << r.target;
    if (r.method == "PUT" || (r.method == "POST" && r.path != "/v1/executions/E1/cancel")) {
      EXPECT_EQ(r.Header("content-type"), "application/json") << r.target;
    }
  }
  EXPECT_EQ(requests[6].body, R"({"args":{"X":"1"},"jobVersion":"2"})")
      << "requested_by is the server's to set";
  EXPECT_EQ(requests[11].body, R"({"value":"v4lue"})");
  v1::JobSpec sent;
  AUTOMATE_ASSERT_OK(internal::ParseJsonBody(requests[3].body, &sent, "JobSpec"));
  EXPECT_EQ(sent.name(), "a");
  EXPECT_EQ(server.connections(), 1) << "every call reused one keep-alive connection";
}

TEST(RemoteEngineTest, ErrorsKeepTheServersCodeAndMessage) {
  FakeHttpServer server([](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
    } else if (r.path == "/v1/jobs/nope") {
      c.Respond(404, ErrorJson("NOT_FOUND", "job \"nope\" not found"));
    } else if (r.path == "/v1/jobs/greet/executions") {
      c.Respond(400, ErrorJson("INVALID_ARGUMENT", "argument \"WHO\": required"));
    } else if (r.path == "/v1/jobs/fb/executions") {
      c.Respond(409,
                ErrorJson("FAILED_PRECONDITION",
                          "job \"fb\": concurrency limit of 1 reached and its policy is forbid"));
    } else if (r.path == "/v1/jobs/locked/executions") {
      c.Respond(403,
                ErrorJson("PERMISSION_DENIED", "token \"viewer\" (role viewer) may not run jobs"));
    } else if (r.path == "/v1/jobs") {
      c.Respond(401, ErrorJson("UNAUTHENTICATED", "invalid token"), "application/json",
                "WWW-Authenticate: Bearer\r\n");
    } else {
      c.Respond(502, "<html>bad gateway</html>", "text/html");
    }
  });
  auto engine = Open(server.url());
  absl::StatusOr<v1::Job> job = engine->GetJob("nope");
  EXPECT_EQ(job.status(), absl::NotFoundError("job \"nope\" not found"));
  SubmitRequest submit;
  submit.job = "greet";
  EXPECT_EQ(engine->Submit(submit).status(),
            absl::InvalidArgumentError("argument \"WHO\": required"));
  submit.job = "fb";
  EXPECT_EQ(engine->Submit(submit).status().code(), absl::StatusCode::kFailedPrecondition);
  submit.job = "locked";
  EXPECT_EQ(engine->Submit(submit).status(),
            absl::PermissionDeniedError("token \"viewer\" (role viewer) may not run jobs"));
  absl::Status unauthenticated = engine->ListJobs().status();
  EXPECT_EQ(unauthenticated, absl::UnauthenticatedError("invalid token"));
  absl::Status gateway = engine->GetExecution("X").status();
  EXPECT_EQ(gateway, absl::UnavailableError("the server answered HTTP 502"));
  for (const absl::Status& s : {job.status(), unauthenticated, gateway}) {
    EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  }
  // Empty names never make a different route.
  EXPECT_EQ(engine->GetExecution("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->OpenLog("X", -1, false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RemoteEngineTest, UnreachableServer) {
  int port;
  {
    FakeHttpServer gone([](const FakeRequest&, FakeConnection&) {});
    port = gone.port();
  }
  auto engine = Open(absl::StrCat("http://127.0.0.1:", port));
  absl::Status s = engine->ListJobs().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("127.0.0.1:", port)));
  EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  EXPECT_EQ(engine->OpenLog("E", 0, true).status().code(), absl::StatusCode::kUnavailable);
}

TEST(RemoteEngineTest, BadOptions) {
  RemoteOptions options;
  options.server = "localhost:8080";
  EXPECT_EQ(OpenRemoteEngine(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.server = "http://localhost:8080";
  options.token = "abc\r\nX-Evil: 1";
  absl::Status s = OpenRemoteEngine(options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), Not(HasSubstr("abc")));
  options.token = "";
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(OpenRemoteEngine(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// A batch is one POST to a server of API version 2 or later; an older
// server is told apart before anything is sent.
TEST(RemoteEngineTest, SubmitBatch) {
  std::string ping = kPing;
  std::string answer = R"({"executions":[{"id":"E1","job":"a"},{"id":"E2","job":"b"}]})";
  FakeHttpServer server([&](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, ping);
    } else if (r.method == "POST" && r.path == "/v1/executions:batchSubmit") {
      if (r.body.find("\"nope\"") != std::string::npos) {
        c.Respond(404, ErrorJson("NOT_FOUND", "requests[1]: job \"nope\" not found"));
      } else {
        c.Respond(201, answer);
      }
    } else {
      c.Respond(404, ErrorJson("NOT_FOUND", "no route"));
    }
  });
  ASSERT_TRUE(server.ok());
  std::vector<SubmitRequest> requests = {{.job = "a", .args = {{"HOST", "web-1"}}},
                                         {.job = "b", .job_version = 3}};
  {
    auto old_server = Open(server.url());
    EXPECT_THAT(old_server->SubmitBatch(requests),
                StatusIs(absl::StatusCode::kFailedPrecondition, "API version 1"));
    for (const auto& r : server.requests()) EXPECT_NE(r.method, "POST") << r.path;
  }
  ping = R"({"version":"0.4.0","apiVersion":2,"minClientApiVersion":1})";
  auto engine = Open(server.url());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::Execution> execs, engine->SubmitBatch(requests));
  ASSERT_EQ(execs.size(), 2u);
  EXPECT_EQ(execs[0].id(), "E1");
  EXPECT_EQ(execs[1].id(), "E2");
  FakeRequest sent = server.requests().back();
  v1::BatchSubmitRequest body;
  AUTOMATE_ASSERT_OK(internal::ParseJsonBody(sent.body, &body, "BatchSubmitRequest"));
  ASSERT_EQ(body.requests_size(), 2);
  EXPECT_EQ(body.requests(0).job(), "a");
  EXPECT_EQ(body.requests(0).args().at("HOST"), "web-1");
  EXPECT_EQ(body.requests(1).job_version(), 3);

  requests[1].job = "nope";
  EXPECT_THAT(engine->SubmitBatch(requests),
              StatusIs(absl::StatusCode::kNotFound, "requests[1]: job \"nope\" not found"));
  requests[1].job = "";
  EXPECT_THAT(engine->SubmitBatch(requests),
              StatusIs(absl::StatusCode::kInvalidArgument, "requests[1]: job name"));
  answer = R"({"executions":[{"id":"E1"}]})";  // A server answering for fewer.
  requests[1].job = "b";
  EXPECT_THAT(engine->SubmitBatch(requests), StatusIs(absl::StatusCode::kInternal, "2 requests"));
  size_t sent_before = server.requests().size();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(execs, engine->SubmitBatch({}));
  EXPECT_TRUE(execs.empty());
  std::vector<SubmitRequest> too_many(Engine::kMaxSubmitBatch + 1, SubmitRequest{.job = "a"});
  EXPECT_THAT(engine->SubmitBatch(too_many),
              StatusIs(absl::StatusCode::kInvalidArgument, "at most 1000"));
  EXPECT_EQ(server.requests().size(), sent_before) << "nothing sent for those";
}

struct VersionCase {
  const char* ping;
  const char* header;  // Automate-Api-Version of /ping; nullptr: none.
  bool ok;
  std::vector<const char*> words;  // In the message.
};

TEST(RemoteEngineTest, VersionCheck) {
  std::vector<VersionCase> cases = {
      {kPing, "1", true, {}},
      {R"({"version":"0.9.0","apiVersion":3,"minClientApiVersion":1})", "3", true, {}},
      {R"({"version":"0.9.0","apiVersion":3,"minClientApiVersion":3})",
       "3",
       false,
       {"0.9.0", "API version 3", "API version 2", "upgrade automate"}},
      {R"({"version":"0.0.1","apiVersion":0})", nullptr, false, {"is it an automated server"}},
      {R"({"version":"0.2.0"})", "1", true, {}},  // The header alone will do.
  };
  for (const VersionCase& c : cases) {
    FakeHttpServer server([&c](const FakeRequest& r, FakeConnection& conn) {
      if (r.path == "/ping") {
        std::string header =
            c.header ? absl::StrCat("Automate-Api-Version: ", c.header, "\r\n") : "";
        conn.Write(absl::StrCat(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ", strlen(c.ping),
            "\r\n", header, "\r\n", c.ping));
      } else {
        conn.Respond(200, R"({"jobs":[]})");
      }
    });
    auto engine = Open(server.url());
    absl::Status first = engine->ListJobs().status();
    absl::Status second = engine->ListJobs().status();
    EXPECT_EQ(first.ok(), c.ok) << c.ping << ": " << first;
    EXPECT_EQ(second, first) << "remembered";
    if (!c.ok) {
      EXPECT_EQ(first.code(), absl::StatusCode::kFailedPrecondition);
      for (const char* word : c.words) EXPECT_THAT(first.message(), HasSubstr(word)) << c.ping;
    }
    int pings = 0;
    for (const auto& r : server.requests()) pings += r.path == "/ping";
    EXPECT_EQ(pings, 1) << c.ping;
  }
}

TEST(RemoteEngineTest, NotAnAutomatedServer) {
  FakeHttpServer server(
      [](const FakeRequest&, FakeConnection& c) { c.Respond(404, "not found", "text/plain"); });
  auto engine = Open(server.url());
  absl::Status s = engine->ListJobs().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("is not an automated server"));
}

TEST(RemoteEngineTest, WaitLongPolls) {
  absl::Mutex mu;
  int gets = 0;
  FakeHttpServer server([&](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
      return;
    }
    int n;
    {
      absl::MutexLock lock(&mu);
      n = ++gets;
    }
    if (r.path == "/v1/executions/DONE" && n >= 2) {
      c.Respond(200, R"({"id":"DONE","state":"SUCCEEDED"})");
    } else {
      absl::SleepFor(absl::Milliseconds(20));
      c.Respond(200, R"({"id":"X","state":"RUNNING"})");
    }
  });
  auto engine = Open(server.url());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto done, engine->Wait("DONE", absl::InfiniteFuture()));
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  std::vector<FakeRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].target, "/v1/executions/DONE?wait=30s");

  absl::Time start = absl::Now();
  absl::Status late = engine->Wait("SLOW", start + absl::Milliseconds(300)).status();
  EXPECT_EQ(late, absl::DeadlineExceededError("execution SLOW is not finished yet"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  requests = server.requests();
  EXPECT_TRUE(absl::StartsWith(requests[3].target, "/v1/executions/SLOW?wait=0."))
      << requests[3].target;
}

TEST(RemoteEngineTest, LogStreamReconnectsWithoutDuplicatesOrGaps) {
  absl::Mutex mu;
  int log_requests = 0;
  FakeHttpServer server([&](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
      return;
    }
    int n;
    {
      absl::MutexLock lock(&mu);
      n = ++log_requests;
    }
    c.Close();
    if (n == 1) {
      // Chunked, and cut in the middle of a chunk: a connection reset.
      c.Write(
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
          "chunked\r\n\r\n");
      std::string events = LogEvent(0, "line 1\n") + ": keepalive\n\n" + LogEvent(7, "line 2\n");
      c.Write(absl::StrCat(absl::Hex(events.size()), "\r\n", events, "\r\n"));
      c.Write("400\r\nevent: log\nid: 9");  // Half an event, then gone.
    } else if (n == 2) {
      c.Respond(503, ErrorJson("UNAVAILABLE", "starting"));
    } else if (n == 3) {
      // A clean close of an unbounded body, before `end`.
      c.Write(kSseHeaders);
      c.Write(LogEvent(7, "line 2\n"));                  // Already seen: dropped.
      c.Write(LogEvent(12, "2\nline 3\n", v1::STDERR));  // Straddles: cut at 14.
    } else {
      c.Write(kSseHeaders);
      c.Write(LogEvent(21, "line 4\n") + EndEvent(28));
    }
  });
  auto engine = Open(server.url());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, engine->OpenLog("E", 0, true));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto chunks, ReadAll(*reader));
  EXPECT_EQ(Joined(chunks), "line 1\nline 2\nline 3\nline 4\n");
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[2].offset, 14);
  EXPECT_EQ(chunks[2].data, "line 3\n");
  EXPECT_EQ(chunks[2].stream, v1::STDERR);
  EXPECT_EQ(chunks[0].time, absl::FromUnixSeconds(1795860000));
  EXPECT_EQ(reader->offset(), 28);

  std::vector<FakeRequest> logs;
  for (const auto& r : server.requests()) {
    if (r.path == "/v1/executions/E/logs") logs.push_back(r);
  }
  ASSERT_EQ(logs.size(), 4u);
  EXPECT_EQ(logs[0].target, "/v1/executions/E/logs?offset=0&follow=true");
  EXPECT_EQ(logs[0].Header("accept"), "text/event-stream");
  EXPECT_EQ(logs[0].Header("last-event-id"), "");
  EXPECT_EQ(logs[1].Header("last-event-id"), "14");
  EXPECT_EQ(logs[1].target, "/v1/executions/E/logs?offset=14&follow=true");
  EXPECT_EQ(logs[2].Header("last-event-id"), "14");
  EXPECT_EQ(logs[3].Header("last-event-id"), "21");
  EXPECT_EQ(logs[3].Header("authorization"), absl::StrCat("Bearer ", kToken));
}

TEST(RemoteEngineTest, LogStreamGivesUpAfterTheTimeout) {
  absl::Notification sent;
  auto server = std::make_unique<FakeHttpServer>([&](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
      return;
    }
    c.Close();
    c.Write(kSseHeaders);
    c.Write(LogEvent(0, "only\n"));
    if (!sent.HasBeenNotified()) sent.Notify();
    while (c.Write(": keepalive\n\n")) absl::SleepFor(absl::Milliseconds(20));
  });
  auto engine = Open(server->url(), absl::Seconds(1));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, engine->OpenLog("E", 0, true));
  std::vector<LogChunk> chunks;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(size_t n,
                                reader->Read(&chunks, 1024, absl::Now() + absl::Seconds(5)));
  EXPECT_EQ(n, 1u);
  sent.WaitForNotification();
  absl::Time killed = absl::Now();
  server->Stop();  // Like SIGKILL: connections reset, nothing listens.
  absl::StatusOr<std::vector<LogChunk>> rest = ReadAll(*reader);
  EXPECT_EQ(rest.status().code(), absl::StatusCode::kUnavailable) << rest.status();
  EXPECT_THAT(rest.status().message(), HasSubstr("could not reconnect within 1s"));
  EXPECT_THAT(rest.status().message(), Not(HasSubstr(kToken)));
  absl::Duration took = absl::Now() - killed;
  EXPECT_GE(took, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(RemoteEngineTest, LogOpenErrors) {
  FakeHttpServer server([](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
    } else if (r.path == "/v1/executions/NOPE/logs") {
      c.Respond(404, ErrorJson("NOT_FOUND", "execution NOPE not found"));
    } else {
      c.Respond(416, ErrorJson("OUT_OF_RANGE", "offset 99 is past the end of the log (5 bytes)"));
    }
  });
  auto engine = Open(server.url());
  EXPECT_EQ(engine->OpenLog("NOPE", 0, true).status(),
            absl::NotFoundError("execution NOPE not found"));
  EXPECT_EQ(engine->OpenLog("E", 99, false).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(RemoteEngineTest, ReadHonoursDeadlineAndMaxBytesAndStopsPromptly) {
  FakeHttpServer server([](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
      return;
    }
    c.Close();
    c.Write(kSseHeaders);
    c.Write(LogEvent(0, "aaaa\n") + LogEvent(5, "bbbb\n") + LogEvent(10, "cccc\n"));
    // Then silence but for keepalives, until the client goes away.
    while (c.Write(": keepalive\n\n")) absl::SleepFor(absl::Milliseconds(50));
  });
  auto engine = Open(server.url());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, engine->OpenLog("E", 0, true));
  std::vector<LogChunk> chunks;
  size_t total = 0;
  while (total < 3) {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(size_t n,
                                  reader->Read(&chunks, 6, absl::Now() + absl::Seconds(5)));
    EXPECT_EQ(n, 1u) << "6 bytes hold one 5-byte chunk, not two";
    total += n;
  }
  EXPECT_EQ(reader->offset(), 15);
  absl::Time start = absl::Now();
  AUTOMATE_ASSERT_OK_AND_ASSIGN(size_t n,
                                reader->Read(&chunks, 1024, start + absl::Milliseconds(200)));
  EXPECT_EQ(n, 0u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  start = absl::Now();
  reader.reset();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500)) << "a reader stops without waiting";
}

TEST(RemoteEngineTest, ManyThreadsShareTheEngine) {
  FakeHttpServer server([](const FakeRequest& r, FakeConnection& c) {
    if (r.path == "/ping") {
      c.Respond(200, kPing);
    } else {
      c.Respond(200, R"({"jobs":[{"spec":{"name":"a"}}]})");
    }
  });
  auto engine = Open(server.url());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ok += engine->ListJobs().ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_LE(server.connections(), 9) << "handles (and their connections) are reused";
}

}  // namespace
}  // namespace automate
