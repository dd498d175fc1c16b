#include <map>
#include <string>

#include "automate/job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

v1::JobSpec BackupSpec() {
  v1::JobSpec spec;
  spec.set_name("db-backup");
  v1::Param* db = spec.add_params();
  db->set_name("DATABASE");
  db->set_required(true);
  db->set_pattern("^[a-z_]+$");
  v1::Param* days = spec.add_params();
  days->set_name("RETENTION_DAYS");
  days->set_default_("7");
  days->set_pattern("[0-9]+");
  spec.add_params()->set_name("NOTE");  // optional, no default
  return spec;
}

TEST(ResolveArgsTest, AppliesDefaultsAndReturnsEveryParam) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto args, ResolveArgs(BackupSpec(), {{"DATABASE", "orders"}}));
  EXPECT_THAT(
      args, ElementsAre(Pair("DATABASE", "orders"), Pair("NOTE", ""), Pair("RETENTION_DAYS", "7")));
}

TEST(ResolveArgsTest, GivenValuesWinOverDefaults) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      auto args, ResolveArgs(BackupSpec(), {{"DATABASE", "orders"}, {"RETENTION_DAYS", "30"}}));
  EXPECT_EQ(args.at("RETENTION_DAYS"), "30");
}

TEST(ResolveArgsTest, UnknownNameListsTheParams) {
  EXPECT_THAT(
      ResolveArgs(BackupSpec(), {{"DATABASE", "orders"}, {"FOO", "1"}}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          "argument \"FOO\": the job has no such param (params: DATABASE, RETENTION_DAYS, NOTE)"));
  v1::JobSpec none;
  EXPECT_THAT(ResolveArgs(none, {{"FOO", "1"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "(params: none)"));
}

TEST(ResolveArgsTest, MissingRequired) {
  EXPECT_THAT(ResolveArgs(BackupSpec(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "argument \"DATABASE\": required"));
}

TEST(ResolveArgsTest, PatternMismatchDoesNotEchoTheValue) {
  absl::StatusOr<std::map<std::string, std::string>> args =
      ResolveArgs(BackupSpec(), {{"DATABASE", "secret-Value"}});
  EXPECT_THAT(args, StatusIs(absl::StatusCode::kInvalidArgument,
                             "argument \"DATABASE\": value does not match ^[a-z_]+$"));
  EXPECT_THAT(std::string(args.status().message()), Not(HasSubstr("secret-Value")));
}

TEST(ResolveArgsTest, EmptyValueIsCheckedAgainstThePattern) {
  EXPECT_THAT(ResolveArgs(BackupSpec(), {{"DATABASE", ""}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "value does not match"));
}

TEST(ResolveArgsTest, ReportsEveryProblem) {
  absl::StatusOr<std::map<std::string, std::string>> args =
      ResolveArgs(BackupSpec(), {{"X", "1"}, {"RETENTION_DAYS", "many"}});
  ASSERT_FALSE(args.ok());
  EXPECT_THAT(std::string(args.status().message()), HasSubstr("argument \"X\""));
  EXPECT_THAT(std::string(args.status().message()), HasSubstr("argument \"DATABASE\": required"));
  EXPECT_THAT(std::string(args.status().message()),
              HasSubstr("argument \"RETENTION_DAYS\": value does not match"));
}

}  // namespace
}  // namespace automate
