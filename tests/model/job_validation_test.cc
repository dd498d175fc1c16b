#include "model/job_validation.h"

#include <string>

#include "automate/job.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;

v1::JobSpec ValidSpec() {
  v1::JobSpec spec;
  spec.set_name("db-backup");
  spec.mutable_executor()->mutable_local()->add_command("true");
  return spec;
}

void ExpectInvalid(const v1::JobSpec& spec, const std::string& message) {
  EXPECT_THAT(ValidateJobSpec(spec), StatusIs(absl::StatusCode::kInvalidArgument, message));
}

TEST(ValidateJobSpecTest, MinimalSpecIsValid) { AUTOMATE_EXPECT_OK(ValidateJobSpec(ValidSpec())); }

TEST(ValidateJobSpecTest, Name) {
  v1::JobSpec spec = ValidSpec();
  spec.clear_name();
  ExpectInvalid(spec, "name: required");
  for (const char* bad : {"Db", "-db", "db-", "db_backup", "db.backup", "ü"}) {
    spec.set_name(bad);
    ExpectInvalid(spec, "name: must be a lowercase DNS label");
  }
  spec.set_name(std::string(64, 'a'));
  ExpectInvalid(spec, "name: must be a lowercase DNS label");
  spec.set_name(std::string(63, 'a'));
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  spec.set_name("0");
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
}

TEST(ValidateJobSpecTest, Labels) {
  v1::JobSpec spec = ValidSpec();
  (*spec.mutable_labels())["app.kubernetes.io/name"] = "My_App-1.0";
  (*spec.mutable_labels())["empty"] = "";
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  (*spec.mutable_labels())["Bad Key"] = "x";
  ExpectInvalid(spec, "labels[\"Bad Key\"]: label key must be");
  spec.clear_labels();
  (*spec.mutable_labels())["UPPER.example.com/x"] = "x";
  ExpectInvalid(spec, "label key must be");
  spec.clear_labels();
  (*spec.mutable_labels())["team"] = "-x";
  ExpectInvalid(spec, "labels[\"team\"]: label value must be");
  (*spec.mutable_labels())["team"] = std::string(64, 'a');
  ExpectInvalid(spec, "label value must be");
}

TEST(ValidateJobSpecTest, Executor) {
  v1::JobSpec spec = ValidSpec();
  spec.clear_executor();
  ExpectInvalid(spec, "executor: required");
  spec.mutable_executor();
  ExpectInvalid(spec, "executor: must set exactly one executor kind (local, docker)");
  spec.mutable_executor()->mutable_docker();
  ExpectInvalid(spec, "executor.docker.image: required");
  spec.mutable_executor()->mutable_docker()->set_image("localhost/busybox:latest");
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  for (const char* good : {"busybox", "library/busybox:1.36", "registry.example.com:5000/a/b:tag",
                           "localhost/x", "x@sha256:abc", "ghcr.io/org/x"}) {
    SCOPED_TRACE(good);
    spec.mutable_executor()->mutable_docker()->set_image(good);
    AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  }
  for (const char* bad : {"Busybox", "a b", "x:", "/x", "x/", "a//b", "x@nodigest"}) {
    SCOPED_TRACE(bad);
    spec.mutable_executor()->mutable_docker()->set_image(bad);
    ExpectInvalid(spec, "executor.docker.image: must be an image reference");
  }
  spec.mutable_executor()->mutable_docker()->set_image("busybox");
  spec.mutable_executor()->mutable_docker()->add_command("");
  ExpectInvalid(spec, "executor.docker.command[0]: must not be empty");
  spec.mutable_executor()->mutable_docker()->clear_command();
  (*spec.mutable_executor()->mutable_docker()->mutable_env())["1X"] = "v";
  ExpectInvalid(spec, "executor.docker.env[\"1X\"]: must match");
  spec.mutable_executor()->mutable_local();
  ExpectInvalid(spec, "executor.local.command: required");
  spec.mutable_executor()->mutable_local()->add_command("");
  ExpectInvalid(spec, "executor.local.command[0]: must not be empty");
  spec = ValidSpec();
  (*spec.mutable_executor()->mutable_local()->mutable_env())["A=B"] = "x";
  ExpectInvalid(spec, "executor.local.env[\"A=B\"]: must match [A-Za-z_][A-Za-z0-9_]*");
}

TEST(ValidateJobSpecTest, Params) {
  v1::JobSpec spec = ValidSpec();
  spec.add_params()->set_name("A");
  spec.add_params()->set_name("9lives");
  ExpectInvalid(spec, "params[1].name: must match [A-Za-z_][A-Za-z0-9_]*");
  spec.mutable_params(1)->set_name("A");
  ExpectInvalid(spec, "params[1].name: duplicate param name (also params[0])");
  spec.mutable_params(1)->set_name("B");
  spec.mutable_params(1)->set_required(true);
  spec.mutable_params(1)->set_default_("x");
  ExpectInvalid(spec, "params[1].default: a required param cannot have a default");
  spec.mutable_params(1)->set_required(false);
  spec.mutable_params(1)->set_pattern("[a-z");
  ExpectInvalid(spec, "params[1].pattern: not a valid ECMAScript regular expression");
  spec.mutable_params(1)->set_pattern("[0-9]+");
  ExpectInvalid(spec, "params[1].default: does not match the pattern [0-9]+");
  spec.mutable_params(1)->set_default_("42");
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
}

TEST(ValidateJobSpecTest, Secrets) {
  v1::JobSpec spec = ValidSpec();
  spec.add_params()->set_name("TOKEN");
  spec.add_secrets("PGPASSWORD");
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  spec.add_secrets("bad-name");
  ExpectInvalid(spec, "secrets[1]: must match [A-Za-z_][A-Za-z0-9_]*");
  spec.set_secrets(1, "PGPASSWORD");
  ExpectInvalid(spec, "secrets[1]: duplicate secret name (also secrets[0])");
  spec.set_secrets(1, "TOKEN");
  ExpectInvalid(spec, "secrets[1]: is also a param name");
}

TEST(ValidateJobSpecTest, RetryAndTimeout) {
  v1::JobSpec spec = ValidSpec();
  spec.mutable_retry();
  ExpectInvalid(spec, "retry.max_attempts: must be at least 1");
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(60);
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(10);
  ExpectInvalid(spec, "retry.max_backoff: must not be less than initial_backoff");
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(-10);
  ExpectInvalid(spec, "retry.max_backoff: must not be negative");
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(60);
  spec.mutable_retry()->set_multiplier(0.5);
  ExpectInvalid(spec, "retry.multiplier: must be at least 1");
  spec.mutable_retry()->set_multiplier(0);  // the default
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  spec.mutable_timeout();
  ExpectInvalid(spec, "timeout: must be positive");
  spec.mutable_timeout()->set_seconds(1);
  spec.mutable_timeout()->set_nanos(-5);
  ExpectInvalid(spec, "timeout: must be a valid duration");
}

TEST(ValidateJobSpecTest, LimitsAndEnums) {
  v1::JobSpec spec = ValidSpec();
  spec.set_priority(-100);  // below the default: runs after everything else
  AUTOMATE_EXPECT_OK(ValidateJobSpec(spec));
  spec.mutable_concurrency()->set_limit(-1);
  ExpectInvalid(spec, "concurrency.limit: must not be negative");
  spec.mutable_concurrency()->set_limit(1);
  spec.mutable_concurrency()->set_policy(static_cast<v1::ConcurrencyPolicy::Policy>(42));
  ExpectInvalid(spec, "concurrency.policy: unknown value 42");
  spec.clear_concurrency();
  spec.mutable_log_limit()->set_bytes(-1);
  ExpectInvalid(spec, "log_limit.bytes: must not be negative");
  spec.mutable_log_limit()->set_bytes(1);
  spec.mutable_log_limit()->set_action(static_cast<v1::LogLimit::Action>(9));
  ExpectInvalid(spec, "log_limit.action: unknown value 9");
}

TEST(ValidateJobSpecTest, ReportsEveryProblemOnePerLine) {
  v1::JobSpec spec;
  spec.add_secrets("x-y");
  absl::Status status = ValidateJobSpec(spec);
  EXPECT_EQ(status.message(),
            "name: required\nexecutor: required\nsecrets[0]: must match [A-Za-z_][A-Za-z0-9_]*");
}

TEST(PatternMatchesTest, MatchesTheWholeValue) {
  EXPECT_TRUE(*internal::PatternMatches("[a-z]+", "abc"));
  EXPECT_FALSE(*internal::PatternMatches("[a-z]+", "abc1"));
  EXPECT_FALSE(*internal::PatternMatches("b", "abc"));
  EXPECT_TRUE(*internal::PatternMatches("^[a-z_]+$", "my_db"));
  EXPECT_THAT(
      internal::PatternMatches("(", ""),
      StatusIs(absl::StatusCode::kInvalidArgument, "not a valid ECMAScript regular expression"));
  EXPECT_THAT(internal::PatternMatches("(a|b)*", std::string(5000, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, "longer than 4096 characters"));
}

}  // namespace
}  // namespace automate
