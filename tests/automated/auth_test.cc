// automated's Auth: tokens, authentication with its cache, roles, groups,
// and the audit log, on a real SQLite store.
#include "auth.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "automate/store.h"
#include "automate/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automated {
namespace {

using ::automate::v1::ADMIN;
using ::automate::v1::OPERATOR;
using ::automate::v1::ROLE_UNSPECIFIED;
using ::automate::v1::VIEWER;
using ::automate_testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

automate::v1::CreateTokenRequest Request(const std::string& name, automate::v1::Role role,
                                         std::vector<std::string> groups = {}) {
  automate::v1::CreateTokenRequest request;
  request.set_name(name);
  request.set_role(role);
  for (std::string& g : groups) request.add_groups(std::move(g));
  return request;
}

std::string Bearer(const std::string& secret) { return absl::StrCat("Bearer ", secret); }

Principal Who(const std::string& name, automate::v1::Role role,
              std::vector<std::string> groups = {}) {
  return Principal{.token_id = "tkaaaaaaaaaa", .name = name, .role = role, .groups = groups};
}

automate::v1::JobSpec Job(const std::string& name, std::vector<std::string> groups = {}) {
  automate::v1::JobSpec job;
  job.set_name(name);
  for (std::string& g : groups) job.add_allowed_groups(std::move(g));
  return job;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    automate::SqliteStoreOptions options;
    options.path = dir_.Join("automate.db");
    auto store = automate::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    auth_ = std::make_unique<Auth>(store_.get(), &clock_);
  }

  // Creates a token and returns its secret.
  std::string Create(const std::string& name, automate::v1::Role role,
                     std::vector<std::string> groups = {}) {
    auto created = auth_->CreateToken(Request(name, role, std::move(groups)), "cli");
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->secret() : "";
  }

  automate_testing::TempDir dir_;
  automate_testing::FakeClock clock_;
  std::unique_ptr<automate::Store> store_;
  std::unique_ptr<Auth> auth_;
};

TEST_F(AuthTest, CreatedTokenAuthenticates) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(
      automate::v1::CreateTokenResponse created,
      auth_->CreateToken(Request("ci", OPERATOR, {"deploy", "db"}), "root-admin"));
  const automate::v1::Token& token = created.token();
  EXPECT_THAT(token.id(), MatchesRegex("tk[a-z2-7]{10}"));
  EXPECT_THAT(created.secret(),
              MatchesRegex(absl::StrCat("atk_", token.id(), "_[A-Za-z0-9_-]{43}")));
  EXPECT_EQ(token.name(), "ci");
  EXPECT_EQ(token.role(), OPERATOR);
  EXPECT_THAT(token.groups(), ::testing::ElementsAre("deploy", "db"));
  EXPECT_EQ(token.created_by(), "root-admin");
  EXPECT_EQ(token.create_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_FALSE(token.has_revoke_time());

  AUTOMATE_ASSERT_OK_AND_ASSIGN(Principal who, auth_->Authenticate(Bearer(created.secret())));
  EXPECT_EQ(who.token_id, token.id());
  EXPECT_EQ(who.name, "ci");
  EXPECT_EQ(who.role, OPERATOR);
  EXPECT_THAT(who.groups, ::testing::ElementsAre("deploy", "db"));
  // The scheme is case-insensitive; surrounding blanks are tolerated.
  AUTOMATE_EXPECT_OK(auth_->Authenticate(absl::StrCat("  bearer  ", created.secret(), " ")));

  // Every token gets its own id and secret.
  std::string other = Create("ci-2", VIEWER);
  EXPECT_NE(other, created.secret());
  AUTOMATE_ASSERT_OK_AND_ASSIGN(who, auth_->Authenticate(Bearer(other)));
  EXPECT_EQ(who.name, "ci-2");
}

TEST_F(AuthTest, BadCredentialsAreUnauthenticated) {
  std::string secret = Create("ci", OPERATOR);
  std::string wrong = secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  std::string unknown = "atk_tkzzzzzzzzzz" + secret.substr(16);
  const auto kUnauth = absl::StatusCode::kUnauthenticated;
  EXPECT_THAT(auth_->Authenticate(""), StatusIs(kUnauth, "missing Authorization header"));
  EXPECT_THAT(auth_->Authenticate("   "), StatusIs(kUnauth, "missing Authorization header"));
  EXPECT_THAT(auth_->Authenticate("Basic dXNlcjpwYXNz"),
              StatusIs(kUnauth, "not \"Bearer <token>\""));
  EXPECT_THAT(auth_->Authenticate(secret), StatusIs(kUnauth, "not \"Bearer <token>\""));
  EXPECT_THAT(auth_->Authenticate("Bearer"), StatusIs(kUnauth, "not \"Bearer <token>\""));
  for (const std::string& malformed :
       {std::string("nonsense"), secret.substr(0, secret.size() - 1), secret + "x",
        "atk_TK" + secret.substr(6), "atk_tk1" + secret.substr(7), "xtk_" + secret.substr(4),
        secret.substr(0, 16) + "-" + secret.substr(17), secret.substr(0, 20) + "=" +
        secret.substr(21)}) {
    EXPECT_THAT(auth_->Authenticate(Bearer(malformed)), StatusIs(kUnauth, "malformed token"))
        << malformed;
  }
  EXPECT_THAT(auth_->Authenticate(Bearer(unknown)),
              StatusIs(kUnauth, "unknown token tkzzzzzzzzzz"));
  // Both before and after the real token is cached.
  EXPECT_THAT(auth_->Authenticate(Bearer(wrong)), StatusIs(kUnauth, "wrong secret"));
  AUTOMATE_ASSERT_OK(auth_->Authenticate(Bearer(secret)));
  EXPECT_THAT(auth_->Authenticate(Bearer(wrong)), StatusIs(kUnauth, "wrong secret"));
}

TEST_F(AuthTest, RevokeOnThisAuthAppliesAtOnce) {
  std::string secret = Create("ci", OPERATOR);
  AUTOMATE_ASSERT_OK(auth_->Authenticate(Bearer(secret)));  // Now cached.
  AUTOMATE_ASSERT_OK(auth_->RevokeToken("ci"));
  EXPECT_THAT(auth_->Authenticate(Bearer(secret)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "token \"ci\" (" + secret.substr(4, 12) + ") was revoked at 2026-01-01"));
  AUTOMATE_EXPECT_OK(auth_->RevokeToken("ci"));  // Twice is fine.
  EXPECT_THAT(auth_->RevokeToken("nobody"), StatusIs(absl::StatusCode::kNotFound, "nobody"));
}

TEST_F(AuthTest, RevokeByAnotherAuthAppliesWithinTheCacheTtl) {
  std::string secret = Create("ci", OPERATOR);
  AUTOMATE_ASSERT_OK(auth_->Authenticate(Bearer(secret)));  // Cached at t0.
  // Another process would open its own store; another Auth has its own cache.
  Auth other(store_.get(), &clock_);
  AUTOMATE_ASSERT_OK(other.RevokeToken(secret.substr(4, 12)));  // By id.
  EXPECT_THAT(other.Authenticate(Bearer(secret)),
              StatusIs(absl::StatusCode::kUnauthenticated, "revoked"));

  clock_.Advance(Auth::kCacheTtl - absl::Milliseconds(1));
  AUTOMATE_EXPECT_OK(auth_->Authenticate(Bearer(secret)));  // Still the cached record.
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(auth_->Authenticate(Bearer(secret)),
              StatusIs(absl::StatusCode::kUnauthenticated, "revoked"));
  // Revoked entries are cached too, and stay revoked.
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(auth_->Authenticate(Bearer(secret)),
              StatusIs(absl::StatusCode::kUnauthenticated, "revoked"));
}

TEST_F(AuthTest, RevokedNameCanBeReused) {
  std::string old_secret = Create("ci", OPERATOR);
  EXPECT_THAT(auth_->CreateToken(Request("ci", VIEWER), "cli"),
              StatusIs(absl::StatusCode::kAlreadyExists, "\"ci\""));
  AUTOMATE_ASSERT_OK(auth_->RevokeToken("ci"));
  std::string new_secret = Create("ci", VIEWER);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(Principal who, auth_->Authenticate(Bearer(new_secret)));
  EXPECT_EQ(who.role, VIEWER);
  EXPECT_THAT(auth_->Authenticate(Bearer(old_secret)),
              StatusIs(absl::StatusCode::kUnauthenticated, "revoked"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<automate::v1::Token> tokens, auth_->ListTokens());
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_TRUE(tokens[0].has_revoke_time());
  EXPECT_FALSE(tokens[1].has_revoke_time());
}

TEST_F(AuthTest, InvalidRequestsNameTheField) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  for (const std::string& name : {std::string(""), std::string("Upper"), std::string("sp ace"),
                                  std::string(64, 'a'), std::string("a/b")}) {
    EXPECT_THAT(auth_->CreateToken(Request(name, VIEWER), "cli"), StatusIs(kInvalid, "name: "))
        << name;
  }
  AUTOMATE_EXPECT_OK(auth_->CreateToken(Request(std::string(63, 'a'), VIEWER), "cli"));
  AUTOMATE_EXPECT_OK(auth_->CreateToken(Request("a.b_c-9", VIEWER), "cli"));
  EXPECT_THAT(auth_->CreateToken(Request("cli", ADMIN), "cli"),
              StatusIs(kInvalid, "name: \"cli\" is reserved"));
  EXPECT_THAT(auth_->CreateToken(Request("x", ROLE_UNSPECIFIED), "cli"),
              StatusIs(kInvalid, "role: must be viewer, operator or admin"));
  EXPECT_THAT(auth_->CreateToken(Request("x", static_cast<automate::v1::Role>(7)), "cli"),
              StatusIs(kInvalid, "role: "));
  EXPECT_THAT(auth_->CreateToken(Request("x", VIEWER, {"ok", "Not Ok"}), "cli"),
              StatusIs(kInvalid, "groups[1]: must be 1-63 characters"));
  EXPECT_THAT(auth_->CreateToken(Request("x", VIEWER, {"a", "b", "a"}), "cli"),
              StatusIs(kInvalid, "groups[2]: duplicate group (also groups[0])"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<automate::v1::Token> tokens, auth_->ListTokens());
  EXPECT_EQ(tokens.size(), 2u);  // Nothing of the refused ones was stored.
}

TEST_F(AuthTest, RequireRole) {
  AUTOMATE_EXPECT_OK(Auth::RequireRole(Who("v", VIEWER), VIEWER));
  AUTOMATE_EXPECT_OK(Auth::RequireRole(Who("o", OPERATOR), VIEWER));
  AUTOMATE_EXPECT_OK(Auth::RequireRole(Who("a", ADMIN), OPERATOR));
  AUTOMATE_EXPECT_OK(Auth::RequireRole(Who("a", ADMIN), ADMIN));
  EXPECT_THAT(Auth::RequireRole(Who("ci", VIEWER), OPERATOR),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "token \"ci\" has role viewer; this needs operator"));
  EXPECT_THAT(Auth::RequireRole(Who("ci", OPERATOR), ADMIN),
              StatusIs(absl::StatusCode::kPermissionDenied, "has role operator; this needs admin"));
  EXPECT_THAT(Auth::RequireRole(Who("x", ROLE_UNSPECIFIED), VIEWER),
              StatusIs(absl::StatusCode::kPermissionDenied, "has role unspecified"));
}

TEST_F(AuthTest, RequireRunChecksRoleAndGroups) {
  automate::v1::JobSpec open = Job("build");
  automate::v1::JobSpec guarded = Job("deploy", {"release", "sre"});
  AUTOMATE_EXPECT_OK(Auth::RequireRun(Who("op", OPERATOR), open));
  AUTOMATE_EXPECT_OK(Auth::RequireRun(Who("op", OPERATOR, {"dev", "sre"}), guarded));
  AUTOMATE_EXPECT_OK(Auth::RequireRun(Who("root", ADMIN), guarded));
  EXPECT_THAT(Auth::RequireRun(Who("ro", VIEWER, {"sre"}), guarded),
              StatusIs(absl::StatusCode::kPermissionDenied, "has role viewer; this needs operator"));
  EXPECT_THAT(Auth::RequireRun(Who("ci", OPERATOR, {"dev"}), guarded),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "job \"deploy\" may be run only by groups release, sre (or admins); "
                       "token \"ci\" has groups dev"));
  EXPECT_THAT(Auth::RequireRun(Who("ci", OPERATOR), guarded),
              StatusIs(absl::StatusCode::kPermissionDenied, "has groups none"));
}

TEST_F(AuthTest, SecretNeverAppearsInMessagesOrListings) {
  AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::v1::CreateTokenResponse created,
                                auth_->CreateToken(Request("ci", OPERATOR, {"sre"}), "cli"));
  const std::string secret = created.secret();
  const std::string random = secret.substr(17);  // The part after the id.
  std::string wrong = secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';

  std::vector<absl::Status> statuses = {
      auth_->Authenticate(Bearer(wrong)).status(),
      auth_->Authenticate(Bearer(secret + "!")).status(),
      auth_->Authenticate(secret).status(),
      auth_->Authenticate("Token " + secret).status(),
      auth_->CreateToken(Request("ci", OPERATOR), "cli").status(),
      Auth::RequireRun(*auth_->Authenticate(Bearer(secret)), Job("deploy", {"release"})),
  };
  AUTOMATE_ASSERT_OK(auth_->RevokeToken("ci"));
  statuses.push_back(auth_->Authenticate(Bearer(secret)).status());
  for (const absl::Status& status : statuses) {
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(random)));
    EXPECT_THAT(status.ToString(), Not(HasSubstr(random)));
  }

  AUTOMATE_ASSERT_OK_AND_ASSIGN(std::vector<automate::v1::Token> tokens, auth_->ListTokens());
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_THAT(tokens[0].DebugString(), Not(HasSubstr(random)));
  EXPECT_THAT(tokens[0].SerializeAsString(), Not(HasSubstr(random)));
  EXPECT_THAT(created.token().SerializeAsString(), Not(HasSubstr(random)));
}

TEST_F(AuthTest, AuditEntriesAreRecordedAndListedNewestFirst) {
  Principal admin = Who("root", ADMIN);
  AUTOMATE_ASSERT_OK(auth_->Audit(&admin, "token.create", "ci", "role operator", 201));
  clock_.Advance(absl::Seconds(3));
  AUTOMATE_ASSERT_OK(auth_->Audit(nullptr, "secret.set", "PGPASSWORD", "", 204));

  AUTOMATE_ASSERT_OK_AND_ASSIGN(automate::v1::ListAuditResponse page, auth_->ListAudit(1, ""));
  ASSERT_EQ(page.entries_size(), 1);
  const automate::v1::AuditEntry& newest = page.entries(0);
  EXPECT_EQ(newest.actor(), "cli");
  EXPECT_EQ(newest.action(), "secret.set");
  EXPECT_EQ(newest.target(), "PGPASSWORD");
  EXPECT_EQ(newest.http_status(), 204);
  EXPECT_EQ(newest.time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  ASSERT_FALSE(page.next_page_token().empty());

  AUTOMATE_ASSERT_OK_AND_ASSIGN(page, auth_->ListAudit(1, page.next_page_token()));
  ASSERT_EQ(page.entries_size(), 1);
  const automate::v1::AuditEntry& oldest = page.entries(0);
  EXPECT_EQ(oldest.actor(), "root");
  EXPECT_EQ(oldest.action(), "token.create");
  EXPECT_EQ(oldest.target(), "ci");
  EXPECT_EQ(oldest.detail(), "role operator");
  EXPECT_EQ(oldest.http_status(), 201);
  EXPECT_LT(oldest.seq(), newest.seq());
  EXPECT_EQ(oldest.time().seconds(), absl::ToUnixSeconds(clock_.Now() - absl::Seconds(3)));
  EXPECT_TRUE(page.next_page_token().empty());

  EXPECT_THAT(auth_->ListAudit(0, ""), StatusIs(absl::StatusCode::kInvalidArgument, "limit"));
  EXPECT_THAT(auth_->ListAudit(10, "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, "page token"));
}

}  // namespace
}  // namespace automated
