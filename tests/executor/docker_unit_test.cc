// The docker executor's pieces that need no daemon: log stream decoding,
// DOCKER_HOST resolution, registry credentials, the container config, and
// the mapping of the daemon's errors (against an in-test HTTP server that
// answers as a failing daemon would).
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "automate/docker_executor.h"
#include "executor/docker/docker_api.h"
#include "executor/docker/docker_executor.h"
#include "executor/docker/log_stream.h"
#include "client/fake_http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using ::automate_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Frame(int stream, absl::string_view payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  const auto n = static_cast<uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + std::string(payload);
}

struct Emitted {
  v1::LogStream stream;
  std::string data;
  absl::Time time;
};

std::vector<Emitted> Decode(const std::string& body, bool timestamps, size_t piece,
                            int64_t skip_stdout = 0, int64_t skip_stderr = 0,
                            absl::Status* status = nullptr) {
  std::vector<Emitted> out;
  LogStreamDecoder decoder(timestamps, {}, {skip_stdout, skip_stderr},
                           [&](v1::LogStream s, absl::string_view d, absl::Time t) {
                             out.push_back({s, std::string(d), t});
                           });
  absl::Status result;
  for (size_t i = 0; i < body.size() && result.ok(); i += piece) {
    result = decoder.Add(absl::string_view(body).substr(i, piece));
  }
  if (status != nullptr) *status = result;
  EXPECT_TRUE(status != nullptr || result.ok()) << result;
  EXPECT_TRUE(decoder.at_frame_boundary() || !result.ok());
  return out;
}

std::string Join(const std::vector<Emitted>& e, v1::LogStream stream) {
  std::string s;
  for (const Emitted& x : e) {
    if (x.stream == stream) s += x.data;
  }
  return s;
}

TEST(LogStreamDecoderTest, SeparatesStreamsWhateverThePieces) {
  std::string body = Frame(1, "out one\n") + Frame(2, "err one\n") + Frame(1, "") +
                     Frame(1, "out two\n") + Frame(2, std::string(70000, 'e'));
  for (size_t piece : {size_t{1}, size_t{3}, size_t{8}, size_t{9}, size_t{4096}, body.size()}) {
    SCOPED_TRACE(piece);
    std::vector<Emitted> e = Decode(body, /*timestamps=*/false, piece);
    EXPECT_EQ(Join(e, v1::STDOUT), "out one\nout two\n");
    EXPECT_EQ(Join(e, v1::STDERR), "err one\n" + std::string(70000, 'e'));
  }
}

TEST(LogStreamDecoderTest, StripsTimestampsAndKeepsThem) {
  std::string body = Frame(1, "2026-11-28T13:16:27.123456789Z hello\n") +
                     Frame(2, "2026-11-28T13:16:28.000000001Z oops\n") +
                     // Podman may send several lines in one frame.
                     Frame(1, "2026-11-28T13:16:29.5Z a\n2026-11-28T13:16:29.6+00:00 b\n") +
                     // A long line split into messages: each has a time.
                     Frame(1, "2026-11-28T13:16:30Z part1") + Frame(1, "2026-11-28T13:16:30Z part2\n");
  std::vector<Emitted> e = Decode(body, /*timestamps=*/true, 5);
  EXPECT_EQ(Join(e, v1::STDOUT), "hello\na\nb\npart1part2\n");
  EXPECT_EQ(Join(e, v1::STDERR), "oops\n");
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0].time, absl::FromUnixNanos(int64_t{1795871787} * 1000000000 + 123456789));
  EXPECT_EQ(e[1].time - e[0].time, absl::Nanoseconds(876543212));
  EXPECT_EQ(e[3].time - e[2].time, absl::Milliseconds(100));
}

TEST(LogStreamDecoderTest, ResumesAfterTheStoredBytesOfEachStream) {
  // Podman's timestamps have whole seconds: these lines share one.
  std::string body;
  for (int i = 0; i < 5; ++i) {
    body += Frame(1, absl::StrCat("2026-11-28T13:16:20Z out ", i, "\n"));
    body += Frame(2, absl::StrCat("2026-11-28T13:16:20Z err ", i, "\n"));
  }
  body += Frame(1, "2026-11-28T13:16:20Z partial") + Frame(1, "2026-11-28T13:16:21Z  end\n");
  // Stored: "out 0\nout 1\nou" and "err 0\n".
  std::vector<Emitted> e = Decode(body, /*timestamps=*/true, 7, 14, 6);
  EXPECT_EQ(Join(e, v1::STDOUT), "t 2\nout 3\nout 4\npartial end\n");
  EXPECT_EQ(Join(e, v1::STDERR), "err 1\nerr 2\nerr 3\nerr 4\n");
}

TEST(LogStreamDecoderTest, ReadsFromTheLastSecondOnEmitOnlyWhatIsNew) {
  // The whole log, as three reads with `since` would see it.
  std::string second20, second21;
  for (int i = 0; i < 3; ++i) {
    second20 += Frame(1, absl::StrCat("2026-11-28T13:16:20Z a", i, "\n"));
    second20 += Frame(2, absl::StrCat("2026-11-28T13:16:20Z b", i, "\n"));
  }
  second21 = Frame(1, "2026-11-28T13:16:21Z c\n") + Frame(2, "2026-11-28T13:16:21Z d\n");
  std::string emitted;
  auto emit = [&](v1::LogStream, absl::string_view d, absl::Time) { absl::StrAppend(&emitted, d); };
  // Read 1: the first two records of second 20.
  LogStreamDecoder first(true, {}, {}, emit);
  ASSERT_TRUE(first.Add(second20.substr(0, 2 * (8 + 24))).ok());
  EXPECT_EQ(first.last_second(), 1795871780);
  EXPECT_EQ(first.position_at_last_second(), (StreamPositions{0, 0}));
  EXPECT_EQ(first.position(), (StreamPositions{3, 3}));
  // Read 2 (since second 20): all of second 20 again, then second 21.
  LogStreamDecoder second(true, first.position_at_last_second(), first.position(), emit);
  ASSERT_TRUE(second.Add(second20 + second21).ok());
  EXPECT_EQ(second.last_second(), 1795871781);
  EXPECT_EQ(second.position_at_last_second(), (StreamPositions{9, 9}));
  // Read 3 (since second 21): nothing new.
  LogStreamDecoder third(true, second.position_at_last_second(), second.position(), emit);
  ASSERT_TRUE(third.Add(second21).ok());
  EXPECT_EQ(third.emitted_bytes(), 0);
  EXPECT_EQ(emitted, "a0\nb0\na1\nb1\na2\nb2\nc\nd\n");
}

TEST(LogStreamDecoderTest, RefusesWhatIsNotTheMultiplexedFormat) {
  absl::Status status;
  Decode("plain text from a TTY container\n", false, 100, 0, 0, &status);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss, "multiplexed format"));
  std::string huge = Frame(1, "") ;
  huge[4] = '\x7f';
  Decode(huge, false, 100, 0, 0, &status);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss, "bytes"));
}

TEST(LogStreamDecoderTest, TimestampParsing) {
  absl::Time t;
  EXPECT_TRUE(ParseDockerTimestamp("2026-11-28T13:16:27Z", &t));
  EXPECT_TRUE(ParseDockerTimestamp("2026-11-28T13:16:27.1Z", &t));
  EXPECT_TRUE(ParseDockerTimestamp("2026-11-28T14:16:27.123456789+01:00", &t));
  EXPECT_EQ(t, absl::FromUnixNanos(int64_t{1795871787} * 1000000000 + 123456789));
  EXPECT_FALSE(ParseDockerTimestamp("hello", &t));
  EXPECT_FALSE(ParseDockerTimestamp("2026-11-28 13:16:27Z", &t));
  EXPECT_FALSE(ParseDockerTimestamp("2026-11-28T13:16:27.123456789", &t));
  EXPECT_FALSE(ParseDockerTimestamp("2026-02-30T13:16:27Z", &t));
  EXPECT_FALSE(ParseDockerTimestamp("2026-11-28T13:16:27.Z", &t));
  EXPECT_FALSE(ParseDockerTimestamp("2026-11-28T13:16:27Zjunk", &t));
  ASSERT_TRUE(ParseDockerTimestamp("2026-11-28T13:16:27.5-02:30", &t));
  EXPECT_EQ(t, absl::FromUnixSeconds(1795871787 + 2 * 3600 + 30 * 60) + absl::Milliseconds(500));
}

TEST(DockerHostTest, UnixTcpAndTls) {
  DockerExecutorOptions o;
  absl::StatusOr<HttpTransportOptions> t = DockerTransportOptions(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->unix_socket, "/var/run/docker.sock");
  o.host = "unix:///run/podman/podman.sock";
  t = DockerTransportOptions(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->unix_socket, "/run/podman/podman.sock");
  EXPECT_EQ(t->display_name, "unix:///run/podman/podman.sock");
  o.host = "tcp://10.0.0.5:2375";
  t = DockerTransportOptions(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->base_url, "http://10.0.0.5:2375");
  EXPECT_TRUE(t->unix_socket.empty());
  o.host = "tcp://docker.example.com:2376";
  o.tls_verify = true;
  o.cert_path = "/etc/docker-certs";
  t = DockerTransportOptions(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->base_url, "https://docker.example.com:2376");
  EXPECT_EQ(t->ca_file, "/etc/docker-certs/ca.pem");
  EXPECT_EQ(t->client_cert_file, "/etc/docker-certs/cert.pem");
  EXPECT_EQ(t->client_key_file, "/etc/docker-certs/key.pem");
  for (const char* bad : {"ssh://host", "unix://relative.sock", "tcp://", "http://x:1"}) {
    o.host = bad;
    EXPECT_THAT(DockerTransportOptions(o).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, std::string(bad)));
  }
  EXPECT_THAT(MakeDockerExecutor(o).status(), StatusIs(absl::StatusCode::kInvalidArgument, ""));
}

TEST(DockerHostTest, BadSettingsNameTheirField) {
  DockerExecutorOptions o;
  o.host = "unix:///run/docker.sock";
  for (const char* ok : {"", "1.41", "1.43", "2.0"}) {
    o.api_version = ok;
    EXPECT_TRUE(MakeDockerExecutor(o).ok()) << ok;
  }
  for (const char* bad : {"1.40", "latest", "v1.43", "1.43.1", "1.", ".41", "1.-41", " 1.41"}) {
    o.api_version = bad;
    absl::Status s = MakeDockerExecutor(o).status();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            absl::StrCat("docker API version \"", bad,
                                         "\": must be MAJOR.MINOR, 1.41 or later")))
        << bad;
    EXPECT_THAT(NameDockerSetting(s, "HOST", "VERSION"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("VERSION: docker API version \"", bad, "\"")))
        << bad;
  }
  o.api_version = "1.41";
  o.host = "ssh://host";
  absl::Status s = MakeDockerExecutor(o).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, "ssh://host"));
  EXPECT_THAT(NameDockerSetting(s, "HOST", "VERSION"),
              StatusIs(absl::StatusCode::kInvalidArgument, "HOST: docker host \"ssh://host\""));
  // Anything else is left as it is.
  EXPECT_EQ(NameDockerSetting(absl::InvalidArgumentError("other"), "HOST", "VERSION"),
            absl::InvalidArgumentError("other"));
  EXPECT_TRUE(NameDockerSetting(absl::OkStatus(), "HOST", "VERSION").ok());
}

TEST(DockerHostTest, EnvironmentFillsWhatIsUnset) {
  setenv("DOCKER_HOST", "tcp://127.0.0.1:2376", 1);
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  setenv("DOCKER_CERT_PATH", "/certs", 1);
  setenv("DOCKER_API_VERSION", "1.43", 1);
  DockerExecutorOptions o = DockerOptionsFromEnvironment({});
  EXPECT_EQ(o.host, "tcp://127.0.0.1:2376");
  EXPECT_TRUE(o.tls_verify);
  EXPECT_EQ(o.cert_path, "/certs");
  EXPECT_EQ(o.api_version, "1.43");
  DockerExecutorOptions explicit_host;
  explicit_host.host = "unix:///x.sock";
  EXPECT_EQ(DockerOptionsFromEnvironment(explicit_host).host, "unix:///x.sock");
  for (const char* name : {"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"}) {
    unsetenv(name);
  }
  EXPECT_FALSE(DockerOptionsFromEnvironment({}).tls_verify);
}

TEST(RegistryAuthTest, UserPasswordAndJson) {
  EXPECT_EQ(RegistryOf("busybox"), "docker.io");
  EXPECT_EQ(RegistryOf("library/busybox:1"), "docker.io");
  EXPECT_EQ(RegistryOf("registry.example.com:5000/a/b:1"), "registry.example.com:5000");
  EXPECT_EQ(RegistryOf("localhost/busybox"), "localhost");
  absl::StatusOr<std::string> header =
      RegistryAuthHeader("registry.example.com/tools/pg:15", "robot:s3cr3t+/=");
  ASSERT_TRUE(header.ok());
  EXPECT_THAT(*header, Not(HasSubstr("+")));
  EXPECT_THAT(*header, Not(HasSubstr("/")));
  std::string json;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(*header, &json));
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["username"].GetString(), "robot");
  EXPECT_STREQ(doc["password"].GetString(), "s3cr3t+/=");
  EXPECT_STREQ(doc["serveraddress"].GetString(), "registry.example.com");
  header = RegistryAuthHeader("x", R"({"identitytoken": "tok"})");
  ASSERT_TRUE(header.ok());
  ASSERT_TRUE(absl::WebSafeBase64Unescape(*header, &json));
  EXPECT_EQ(json, R"({"identitytoken": "tok"})");
  for (const char* bad : {"no-colon-secret-value", "{not json secret"}) {
    absl::Status status = RegistryAuthHeader("x", bad).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, ""));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("secret-value")));
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("not json secret")));
  }
}

TEST(ContainerConfigTest, EveryFieldAndEnvPrecedence) {
  v1::JobSpec job;
  job.set_name("pg-dump");
  job.add_secrets("PGPASSWORD");
  v1::DockerExecutor* d = job.mutable_executor()->mutable_docker();
  d->set_image("localhost/busybox:latest");
  d->add_command("sh");
  d->add_command("-c");
  d->add_command("echo hi");
  d->add_entrypoint("/bin/env");
  (*d->mutable_env())["TZ"] = "UTC";
  (*d->mutable_env())["MODE"] = "job";
  d->set_working_dir("/work");
  d->set_user("1000:1000");
  d->mutable_resources()->set_cpus(1.5);
  d->mutable_resources()->set_memory_bytes(512 << 20);
  d->set_network("none");
  d->add_mounts("/srv/backups:/backups:rw");
  d->set_keep_failed_containers(true);
  Executor::StartParams params;
  params.execution_id = "01JEXECUTION";
  params.attempt = 2;
  params.job = &job;
  params.env = {{"MODE", "param"}, {"PGPASSWORD", "pw"}};
  std::string body = ContainerConfigJson(params, "/var/lib/automate");
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  ASSERT_FALSE(doc.HasParseError()) << body;
  EXPECT_STREQ(doc["Image"].GetString(), "localhost/busybox:latest");
  EXPECT_EQ(doc["Cmd"].Size(), 3u);
  EXPECT_STREQ(doc["Entrypoint"][0].GetString(), "/bin/env");
  std::vector<std::string> env;
  for (const auto& v : doc["Env"].GetArray()) env.emplace_back(v.GetString());
  EXPECT_THAT(env, ElementsAre("MODE=param", "TZ=UTC", "PGPASSWORD=pw",
                               "AUTOMATE_EXECUTION_ID=01JEXECUTION", "AUTOMATE_ATTEMPT=2"));
  EXPECT_STREQ(doc["WorkingDir"].GetString(), "/work");
  EXPECT_STREQ(doc["User"].GetString(), "1000:1000");
  EXPECT_FALSE(doc["Tty"].GetBool());
  EXPECT_STREQ(doc["Labels"]["automate.execution"].GetString(), "01JEXECUTION");
  EXPECT_STREQ(doc["Labels"]["automate.job"].GetString(), "pg-dump");
  EXPECT_STREQ(doc["Labels"]["automate.attempt"].GetString(), "2");
  EXPECT_STREQ(doc["Labels"]["automate.engine"].GetString(), "/var/lib/automate");
  EXPECT_STREQ(doc["Labels"]["automate.keep-failed"].GetString(), "true");
  const auto& host = doc["HostConfig"];
  EXPECT_FALSE(host["AutoRemove"].GetBool());
  EXPECT_STREQ(host["NetworkMode"].GetString(), "none");
  EXPECT_STREQ(host["Binds"][0].GetString(), "/srv/backups:/backups:rw");
  EXPECT_EQ(host["NanoCpus"].GetInt64(), 1500000000);
  EXPECT_EQ(host["Memory"].GetInt64(), 512 << 20);
  EXPECT_EQ(ContainerName("01JEXECUTION", 2), "automate-01jexecution-2");
}

// A daemon that answers every call with `status` and `body`.
class FailingDaemonTest : public ::testing::Test {
 protected:
  void Answer(int status, std::string body) {
    absl::MutexLock lock(&mu_);
    status_ = status;
    body_ = std::move(body);
  }
  DockerApi Api() {
    DockerExecutorOptions o;
    o.host = absl::StrCat("tcp://127.0.0.1:", server_.port());
    absl::StatusOr<HttpTransportOptions> t = DockerTransportOptions(o);
    EXPECT_TRUE(t.ok());
    return DockerApi(*t, "1.41");
  }
  absl::Mutex mu_;
  int status_ ABSL_GUARDED_BY(mu_) = 500;
  std::string body_ ABSL_GUARDED_BY(mu_);
  automate_testing::FakeHttpServer server_{
      [this](const automate_testing::FakeRequest&, automate_testing::FakeConnection& c) {
        absl::MutexLock lock(&mu_);
        c.Respond(status_, body_);
      }};
};

TEST_F(FailingDaemonTest, StatusCodesMapToRetryableOrNot) {
  Answer(404, R"({"message":"No such image: localhost/nope:latest"})");
  DockerApi api = Api();
  EXPECT_THAT(api.Create("c", "{}").status(),
              StatusIs(absl::StatusCode::kNotFound, "No such image: localhost/nope"));
  Answer(409, R"({"message":"Conflict. The container name \"/c\" is already in use"})");
  EXPECT_THAT(api.Create("c", "{}").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "already in use"));
  // Podman's way of saying it.
  Answer(500, R"({"cause":"that name is already in use","message":"container create: the container name \"c\" is already in use by 1234","response":500})");
  EXPECT_THAT(api.Create("c", "{}").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "already in use"));
  Answer(500, R"({"cause":"OCI runtime attempted to invoke a command that was not found","message":"runc: exec: \"/nonexistent\": stat /nonexistent: no such file or directory: OCI runtime attempted to invoke a command that was not found","response":500})");
  EXPECT_THAT(api.Start("c"), StatusIs(absl::StatusCode::kFailedPrecondition, "not found"));
  Answer(500, R"({"message":"OCI runtime: exec: \"nope\": executable file not found in $PATH"})");
  EXPECT_THAT(api.Start("c"), StatusIs(absl::StatusCode::kFailedPrecondition, "executable file not found"));
  Answer(500, R"({"message":"internal error: database is locked"})");
  EXPECT_THAT(api.Start("c"), StatusIs(absl::StatusCode::kUnavailable, "(HTTP 500)"));
  EXPECT_THAT(api.Create("c", "{}").status(), StatusIs(absl::StatusCode::kUnavailable, ""));
  Answer(400, R"({"message":"invalid reference format"})");
  EXPECT_THAT(api.Create("c", "{}").status(), StatusIs(absl::StatusCode::kInvalidArgument, ""));
  Answer(500, "<html>proxy error</html>");
  EXPECT_THAT(api.Remove("c"), StatusIs(absl::StatusCode::kUnavailable, "proxy error"));
  Answer(200, R"({"ApiVersion":"1.40"})");
  EXPECT_THAT(api.CheckVersion().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "needs 1.41"));
  Answer(200, R"({"ApiVersion":"1.41","Version":"4.3.1"})");
  EXPECT_EQ(api.CheckVersion().value(), "1.41");
}

TEST_F(FailingDaemonTest, PullErrorsInTheStream) {
  DockerApi api = Api();
  StreamCancel cancel;
  Answer(200, "{\"status\":\"Pulling from x\"}\r\n{\"error\":\"pull access denied for x\"}\r\n");
  EXPECT_THAT(api.Pull("x", "", nullptr, &cancel), StatusIs(absl::StatusCode::kPermissionDenied, ""));
  Answer(200, "{\"errorDetail\":{\"message\":\"m\"},\"error\":\"manifest unknown\"}\n");
  EXPECT_THAT(api.Pull("x:1", "", nullptr, &cancel), StatusIs(absl::StatusCode::kNotFound, ""));
  Answer(200, "{\"error\":\"dial tcp: lookup registry: no such host\"}\n");
  EXPECT_THAT(api.Pull("x", "", nullptr, &cancel), StatusIs(absl::StatusCode::kUnavailable, ""));
  std::vector<std::string> lines;
  Answer(200,
         "{\"status\":\"Pulling from library/x\",\"id\":\"latest\"}\n"
         "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},\"id\":\"a\"}\n"
         "{\"status\":\"Status: Downloaded newer image for x:latest\"}\n");
  EXPECT_TRUE(api.Pull("x", "", [&](absl::string_view l) { lines.emplace_back(l); }, &cancel).ok());
  EXPECT_THAT(lines, ElementsAre("latest: Pulling from library/x",
                                 "Status: Downloaded newer image for x:latest"));
}

TEST(UnreachableDaemonTest, IsUnavailableAndNamesTheSocket) {
  DockerExecutorOptions o;
  o.host = "unix:///nonexistent/automate-test/docker.sock";
  absl::StatusOr<HttpTransportOptions> t = DockerTransportOptions(o);
  ASSERT_TRUE(t.ok());
  DockerApi api(*t, "1.41");
  EXPECT_THAT(api.Create("c", "{}").status(),
              StatusIs(absl::StatusCode::kUnavailable, "unix:///nonexistent/automate-test/docker.sock"));
}

}  // namespace
}  // namespace automate::internal
