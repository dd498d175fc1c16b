#include <string>
#include <vector>

#include "automate/job.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kFullJob[] = R"yaml(
name: db-backup                  # lowercase DNS label
description: Dump a database and keep it for some days
labels: {team: platform}
executor:
  local:
    command: ["/bin/sh", "-c", "pg_dump \"$DATABASE\" | gzip > \"/backups/$DATABASE.gz\""]
    working_dir: /tmp
    env: {TZ: UTC}
    inherit_env: false
params:
  - name: DATABASE
    description: database to dump
    required: true
    pattern: "^[a-z_]+$"
  - name: RETENTION_DAYS
    default: "7"
secrets: [PGPASSWORD]
timeout: 30m
retry: {max_attempts: 3, initial_backoff: 10s, max_backoff: 5m, multiplier: 2}
concurrency: {limit: 1, policy: queue}
priority: 0
log_limit: {bytes: 100Mi, action: truncate}
)yaml";

absl::StatusOr<v1::JobSpec> ParseOne(const std::string& content) {
  absl::StatusOr<std::vector<v1::JobSpec>> specs = ParseJobFile(content, "jobs.yaml");
  if (!specs.ok()) return specs.status();
  if (specs->size() != 1) return absl::InternalError("want one job");
  return (*specs)[0];
}

constexpr char kMinimal[] = "name: x\nexecutor: {local: {command: [true]}}\n";

TEST(JobFileTest, ParsesEveryField) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::JobSpec spec, ParseOne(kFullJob));
  EXPECT_EQ(spec.name(), "db-backup");
  EXPECT_EQ(spec.description(), "Dump a database and keep it for some days");
  EXPECT_THAT(spec.labels(), UnorderedElementsAre(Pair("team", "platform")));
  const v1::LocalExecutor& local = spec.executor().local();
  EXPECT_THAT(
      local.command(),
      ElementsAre("/bin/sh", "-c", "pg_dump \"$DATABASE\" | gzip > \"/backups/$DATABASE.gz\""));
  EXPECT_EQ(local.working_dir(), "/tmp");
  EXPECT_THAT(local.env(), UnorderedElementsAre(Pair("TZ", "UTC")));
  EXPECT_FALSE(local.inherit_env());
  ASSERT_EQ(spec.params_size(), 2);
  EXPECT_TRUE(spec.params(0).required());
  EXPECT_FALSE(spec.params(0).has_default_());
  EXPECT_EQ(spec.params(0).pattern(), "^[a-z_]+$");
  EXPECT_EQ(spec.params(1).default_(), "7");
  EXPECT_THAT(spec.secrets(), ElementsAre("PGPASSWORD"));
  EXPECT_EQ(spec.timeout().seconds(), 1800);
  EXPECT_EQ(spec.retry().max_attempts(), 3);
  EXPECT_EQ(spec.retry().initial_backoff().seconds(), 10);
  EXPECT_EQ(spec.retry().max_backoff().seconds(), 300);
  EXPECT_EQ(spec.retry().multiplier(), 2.0);
  EXPECT_EQ(spec.concurrency().limit(), 1);
  EXPECT_EQ(spec.concurrency().policy(), v1::ConcurrencyPolicy::QUEUE);
  EXPECT_EQ(spec.log_limit().bytes(), 100 * 1024 * 1024);
  EXPECT_EQ(spec.log_limit().action(), v1::LogLimit::TRUNCATE);
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
}

TEST(JobFileTest, StringCommandRunsThroughShell) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      v1::JobSpec spec, ParseOne("name: x\nexecutor:\n  local:\n    command: echo hi | wc -c\n"));
  EXPECT_THAT(spec.executor().local().command(), ElementsAre("/bin/sh", "-c", "echo hi | wc -c"));
}

TEST(JobFileTest, QuotedAndUnquotedScalarsAreTheSame) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      v1::JobSpec a, ParseOne(std::string(kMinimal) +
                              "priority: 5\nretry: {max_attempts: 3}\n"
                              "params: [{name: A, default: 7}, {name: B, default: true}]\n"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      v1::JobSpec b, ParseOne(std::string(kMinimal) +
                              "priority: '5'\nretry: {max_attempts: \"3\"}\n"
                              "params: [{name: A, default: '7'}, {name: B, default: 'true'}]\n"));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b));
  EXPECT_EQ(a.priority(), 5);
  EXPECT_EQ(a.params(1).default_(), "true");
}

TEST(JobFileTest, EmptyDefaultIsADefaultButNullIsNot) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      v1::JobSpec spec,
      ParseOne(std::string(kMinimal) + "params: [{name: A, default: ''}, {name: B, default: }]\n"));
  EXPECT_TRUE(spec.params(0).has_default_());
  EXPECT_FALSE(spec.params(1).has_default_());
}

TEST(JobFileTest, GoodTestdataYamlAndJsonAgree) {
  std::string dir = automate_testing::SourceDir() + "/tests/model/testdata/good/";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::JobSpec> yaml,
                                LoadJobFile(dir + "every-field.yaml"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::JobSpec> json,
                                LoadJobFile(dir + "every-field.json"));
  ASSERT_EQ(yaml.size(), 1u);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(yaml[0], json[0]));
}

TEST(JobFileTest, EdgeCases) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      std::vector<v1::JobSpec> specs,
      LoadJobFile(automate_testing::SourceDir() + "/tests/model/testdata/good/edge-cases.yaml"));
  ASSERT_EQ(specs.size(), 2u);
  const v1::JobSpec& zero = specs[0];
  EXPECT_EQ(zero.name(), "0");
  EXPECT_TRUE(zero.params(0).has_default_());
  EXPECT_FALSE(zero.params(1).has_default_());
  EXPECT_EQ(zero.params(2).default_(), "0x10");
  EXPECT_EQ(zero.retry().max_attempts(), 1);
  EXPECT_TRUE(zero.has_concurrency());
  EXPECT_EQ(zero.log_limit().bytes(), 4096);
  EXPECT_EQ(zero.priority(), -3);
  EXPECT_THAT(specs[1].executor().local().env(),
              UnorderedElementsAre(Pair("A", "1"), Pair("B", "")));
  EXPECT_EQ(specs[1].timeout().nanos(), 500000000);
}

TEST(JobFileTest, RetryBlockDefaultsToOneAttempt) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::JobSpec spec,
                                ParseOne(std::string(kMinimal) + "retry: {initial_backoff: 1s}\n"));
  EXPECT_EQ(spec.retry().max_attempts(), 1);
  EXPECT_FALSE(spec.retry().has_max_backoff());
}

TEST(JobFileTest, JsonAndYamlGiveTheSameSpec) {
  constexpr char kJson[] = R"json({
	"name": "x",
	"executor": {"local": {"command": ["echo", "hi"], "env": {"A": "1"}}},
	"params": [{"name": "P", "default": 7, "required": false}],
	"timeout": "1h30m",
	"retry": {"max_attempts": 2, "multiplier": 1.5}
})json";
  constexpr char kYaml[] = R"yaml(
name: x
executor: {local: {command: [echo, hi], env: {A: "1"}}}
params: [{name: P, default: "7"}]
timeout: 90m
retry: {max_attempts: 2, multiplier: 1.5}
)yaml";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::JobSpec json, ParseOne(kJson));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::JobSpec yaml, ParseOne(kYaml));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(json, yaml));
}

TEST(JobFileTest, SeveralDocumentsAndEmptyOnesAreSkipped) {
  std::string content = std::string("---\n# only a comment\n---\n") + kMinimal + "---\n---\n" +
                        "name: y\nexecutor: {local: {command: [true]}}\n...\n";
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::JobSpec> specs, ParseJobFile(content, "jobs.yaml"));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name(), "x");
  EXPECT_EQ(specs[1].name(), "y");
}

TEST(JobFileTest, FileWithoutJobsIsAnError) {
  EXPECT_THAT(ParseJobFile("", "empty.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty.yaml: no jobs in file"));
  EXPECT_THAT(ParseJobFile("---\n# nothing\n", "empty.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, "no jobs in file"));
}

TEST(JobFileTest, UnknownFieldNamesFileLineAndPath) {
  constexpr char kContent[] =
      "name: x\n"
      "executor:\n"
      "  local:\n"
      "    comand: [true]\n";
  EXPECT_THAT(
      ParseJobFile(kContent, "jobs.yaml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "jobs.yaml:4: executor.local.comand: unknown field (expected one of command, "
               "working_dir, env, inherit_env)"));
}

TEST(JobFileTest, CollectsAllErrorsInLineOrder) {
  constexpr char kContent[] =
      "name: Bad_Name\n"                        // 1
      "executor: {local: {command: [true]}}\n"  // 2
      "timeout: soon\n"                         // 3
      "params:\n"                               // 4
      "  - name: OK\n"                          // 5
      "  - name: 1BAD\n";                       // 6
  absl::StatusOr<std::vector<v1::JobSpec>> specs = ParseJobFile(kContent, "jobs.yaml");
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(specs.status().message(),
            "jobs.yaml:1: name: must be a lowercase DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at "
            "most 63 characters\n"
            "jobs.yaml:3: timeout: must be a duration like 90s, 2h, 1h30m\n"
            "jobs.yaml:6: params[1].name: must match [A-Za-z_][A-Za-z0-9_]*");
}

TEST(JobFileTest, TypeErrorIsNotRepeatedAsMissingField) {
  absl::StatusOr<std::vector<v1::JobSpec>> specs =
      ParseJobFile("name: [a]\nexecutor: {local: {command: [true]}}\n", "jobs.yaml");
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().message(), "jobs.yaml:1: name: must be a string");
}

TEST(JobFileTest, ErrorsInSecondDocumentHaveFileLines) {
  std::string content = std::string(kMinimal) + "---\nname: y\nexecutor: {local: {command: []}}\n";
  EXPECT_THAT(ParseJobFile(content, "jobs.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "jobs.yaml:5: executor.local.command: required"));
}

TEST(JobFileTest, YamlSyntaxErrorHasLine) {
  EXPECT_THAT(ParseJobFile("name: x\nexecutor: {local: [\n", "jobs.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, "jobs.yaml:"));
  absl::StatusOr<std::vector<v1::JobSpec>> specs =
      ParseJobFile("name: x\n  bad: indent\n", "jobs.yaml");
  EXPECT_THAT(specs, StatusIs(absl::StatusCode::kInvalidArgument, "jobs.yaml:2: invalid YAML"));
}

TEST(JobFileTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  EXPECT_THAT(ParseJobFile(deep, "deep.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, "deep.yaml"));
}

TEST(JobFileTest, ParsedSpecsPassValidation) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::JobSpec> specs,
                                ParseJobFile(kFullJob, "jobs.yaml"));
  for (const v1::JobSpec& spec : specs) AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
}

TEST(LoadJobFileTest, ReadsAFile) {
  automate_testing::TempDir dir;
  automate_testing::WriteFileOrDie(dir.Join("a.yaml"), kMinimal);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<v1::JobSpec> specs, LoadJobFile(dir.Join("a.yaml")));
  EXPECT_EQ(specs.at(0).name(), "x");
}

TEST(LoadJobFileTest, ErrorsNameThePath) {
  automate_testing::TempDir dir;
  automate_testing::WriteFileOrDie(dir.Join("bad.yaml"), "name: x\n");
  EXPECT_THAT(LoadJobFile(dir.Join("bad.yaml")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       dir.Join("bad.yaml") + ":1: executor: required"));
  EXPECT_THAT(LoadJobFile(dir.Join("missing.yaml")),
              StatusIs(absl::StatusCode::kNotFound, "missing.yaml"));
  EXPECT_FALSE(LoadJobFile(dir.path()).ok());
}

}  // namespace
}  // namespace automate
