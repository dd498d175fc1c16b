#include <string>
#include <vector>

#include "automate/job.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using ::testing::HasSubstr;

// Parses the YAML of `spec` back and expects an equal spec.
void ExpectRoundTrip(const v1::JobSpec& spec) {
  std::string yaml = JobSpecToYaml(spec);
  absl::StatusOr<std::vector<v1::JobSpec>> back = ParseJobFile(yaml, "emitted.yaml");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(spec, (*back)[0]))
      << "emitted:\n"
      << yaml << "\nwant:\n"
      << spec.DebugString() << "\ngot:\n"
      << (*back)[0].DebugString();
}

TEST(JobSpecToYamlTest, MinimalSpec) {
  v1::JobSpec spec;
  spec.set_name("x");
  spec.mutable_executor()->mutable_local()->add_command("true");
  ExpectRoundTrip(spec);
  EXPECT_EQ(JobSpecToYaml(spec), "name: x\nexecutor:\n  local:\n    command: [true]\n");
}

TEST(JobSpecToYamlTest, ShellCommandIsWrittenAsAString) {
  v1::JobSpec spec;
  spec.set_name("x");
  for (const char* arg : {"/bin/sh", "-c", "echo hi"})
    spec.mutable_executor()->mutable_local()->add_command(arg);
  EXPECT_THAT(JobSpecToYaml(spec), HasSubstr("command: echo hi\n"));
  ExpectRoundTrip(spec);
}

TEST(JobSpecToYamlTest, DockerExecutorEveryField) {
  absl::StatusOr<std::vector<v1::JobSpec>> specs = LoadJobFile(
      automate_testing::SourceDir() + "/tests/model/testdata/good/docker-every-field.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  const v1::DockerExecutor& docker = (*specs)[0].executor().docker();
  EXPECT_EQ(docker.image(), "registry.example.com/tools/pg:15");
  EXPECT_EQ(docker.user(), "1000:1000");
  EXPECT_DOUBLE_EQ(docker.resources().cpus(), 1.5);
  EXPECT_EQ(docker.resources().memory_bytes(), 512 << 20);
  EXPECT_EQ(docker.pull(), v1::DockerExecutor::IF_NOT_PRESENT);
  EXPECT_EQ(docker.mounts_size(), 2);
  EXPECT_TRUE(docker.keep_failed_containers());
  ExpectRoundTrip((*specs)[0]);
  v1::JobSpec spec = (*specs)[0];
  spec.mutable_executor()->mutable_docker()->set_pull(v1::DockerExecutor::NEVER);
  spec.mutable_executor()->mutable_docker()->set_user("1000");  // stays a string
  ExpectRoundTrip(spec);
  spec.mutable_executor()->mutable_docker()->set_pull(v1::DockerExecutor::ALWAYS);
  ExpectRoundTrip(spec);
}

TEST(JobSpecToYamlTest, EveryFieldAndAwkwardStrings) {
  v1::JobSpec spec;
  spec.set_name("awkward");
  spec.set_description("line one\nline two: with colon # and hash\n  indented");
  (*spec.mutable_labels())["app.kubernetes.io/name"] = "x";
  (*spec.mutable_labels())["empty"] = "";
  v1::LocalExecutor* local = spec.mutable_executor()->mutable_local();
  for (const char* arg : {"printf", "%s\\n",   "null", "~",      "",       "true",      "123",
                          "- x",    "{a: b}",  "'q'",  "\"dq\"", "  lead", "trail  ",   "ü ☃",
                          "*alias", "&anchor", "!tag", "@at",    "`tick",  "key: value"}) {
    local->add_command(arg);
  }
  local->set_working_dir("/tmp/with space");
  (*local->mutable_env())["NULLISH"] = "null";
  (*local->mutable_env())["EMPTY"] = "";
  local->set_inherit_env(true);
  const char* defaults[] = {"", "null", "~", "7", "yes", "0x10", "1e3", "#x"};
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); ++i) {
    v1::Param* p = spec.add_params();
    p->set_name("P" + std::to_string(i));
    p->set_default_(defaults[i]);
    p->set_description("~");
  }
  v1::Param* required = spec.add_params();
  required->set_name("REQUIRED");
  required->set_required(true);
  required->set_pattern("^[a-z]+: \\d+$");
  spec.add_secrets("TOKEN");
  spec.mutable_timeout()->set_seconds(5400);
  spec.mutable_retry()->set_max_attempts(4);
  spec.mutable_retry()->mutable_initial_backoff()->set_nanos(500000000);
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(300);
  spec.mutable_retry()->set_multiplier(1.1);
  spec.mutable_concurrency()->set_limit(2);
  spec.mutable_concurrency()->set_policy(v1::ConcurrencyPolicy::REPLACE);
  spec.set_priority(-3);
  spec.mutable_log_limit()->set_bytes(12345);
  spec.mutable_log_limit()->set_action(v1::LogLimit::FAIL);
  AUTOMATE_ASSERT_OK(ValidateJobSpec(spec));
  ExpectRoundTrip(spec);
}

TEST(JobSpecToYamlTest, MultiLineTextsRoundTrip) {
  v1::JobSpec spec;
  spec.set_name("x");
  v1::LocalExecutor* local = spec.mutable_executor()->mutable_local();
  for (const char* arg : {"/bin/sh", "-c", "set -eu\n  echo \"$A\"\n"}) local->add_command(arg);
  EXPECT_THAT(JobSpecToYaml(spec), HasSubstr("command: |\n"));
  ExpectRoundTrip(spec);
  for (const char* text :
       {"a\n", "a\n\n", "a\nb", " a\nb\n", "a \nb\n", "a\tb\nc\n", "\na\n", "a\r\nb\n",
        "# not a comment\n- not a list\n", "a\n\n\nb\n", "key: value\n"}) {
    SCOPED_TRACE(text);
    local->set_command(2, text);
    spec.set_description(text);
    ExpectRoundTrip(spec);
  }
}

TEST(JobSpecToYamlTest, EmptyBlocksSurvive) {
  v1::JobSpec spec;
  spec.set_name("x");
  spec.mutable_executor()->mutable_local()->add_command("true");
  spec.mutable_concurrency();
  spec.mutable_log_limit();
  spec.mutable_retry()->set_max_attempts(1);
  ExpectRoundTrip(spec);
}

TEST(JobSpecToYamlTest, ExamplesRoundTrip) {
  for (const char* name : {"hello.yaml", "dir-backup.yaml", "flaky.yaml", "timeout.yaml",
                           "maintenance.yaml", "system-info.json"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<std::vector<v1::JobSpec>> specs =
        LoadJobFile(automate_testing::SourceDir() + "/examples/jobs/" + name);
    ASSERT_TRUE(specs.ok()) << specs.status();
    for (const v1::JobSpec& spec : *specs) ExpectRoundTrip(spec);
  }
}

}  // namespace
}  // namespace automate
