// SqliteStore: secrets at rest.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "store_test_util.h"

namespace automate {
namespace {

using ::automate_testing::BaseTime;
using ::automate_testing::StatusIs;

constexpr char kValue[] = "correct-horse-battery-staple-7f3a";

std::string RawBytes(const std::string& path) {
  return std::filesystem::exists(path) ? automate_testing::ReadFileOrDie(path) : "";
}

class SqliteStoreSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = automate_testing::StoreOptions(dir_);
    store_ = automate_testing::OpenStoreOrDie(options_);
    ASSERT_NE(store_, nullptr);
  }
  automate_testing::TempDir dir_;
  SqliteStoreOptions options_;
  std::unique_ptr<internal::SqliteStore> store_;
};

TEST_F(SqliteStoreSecretsTest, SetListRevealDelete) {
  AUTOMATE_ASSERT_OK(store_->SetSecret("API_TOKEN", kValue, BaseTime()));
  AUTOMATE_ASSERT_OK(store_->SetSecret("_db2", "", BaseTime()));
  AUTOMATE_ASSERT_OK(store_->SetSecret("API_TOKEN", "v2", BaseTime() + absl::Hours(1)));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto infos, store_->ListSecrets());
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].name(), "API_TOKEN");
  EXPECT_EQ(infos[0].create_time().seconds(), absl::ToUnixSeconds(BaseTime()));
  EXPECT_EQ(infos[0].update_time().seconds(), absl::ToUnixSeconds(BaseTime() + absl::Hours(1)));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto values, store_->RevealSecrets({"API_TOKEN", "_db2"}));
  EXPECT_EQ(values["API_TOKEN"], "v2");
  EXPECT_EQ(values["_db2"], "");
  AUTOMATE_ASSERT_OK(store_->DeleteSecret("_db2"));
  EXPECT_THAT(store_->DeleteSecret("_db2"), StatusIs(absl::StatusCode::kNotFound, "_db2"));
  EXPECT_THAT(store_->RevealSecrets({"API_TOKEN", "_db2", "OTHER"}),
              StatusIs(absl::StatusCode::kNotFound, "secrets not found: OTHER, _db2"));
}

TEST_F(SqliteStoreSecretsTest, InvalidNamesAreRejected) {
  for (const char* name : {"", "1abc", "has-dash", "sp ace", "dollar$"}) {
    EXPECT_THAT(store_->SetSecret(name, "v", BaseTime()),
                StatusIs(absl::StatusCode::kInvalidArgument, "secret name"))
        << name;
  }
  EXPECT_THAT(store_->RevealSecrets({"bad-name"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "[A-Za-z_][A-Za-z0-9_]*"));
}

TEST_F(SqliteStoreSecretsTest, ValuesAreNotInTheFilesInPlaintext) {
  AUTOMATE_ASSERT_OK(store_->SetSecret("API_TOKEN", kValue, BaseTime()));
  // While open (the value may still be in the WAL) and after close (checkpointed).
  std::string raw = RawBytes(options_.path) + RawBytes(options_.path + "-wal");
  EXPECT_NE(raw.find("API_TOKEN"), std::string::npos);  // the check can see text
  EXPECT_EQ(raw.find(kValue), std::string::npos);
  store_.reset();
  raw = RawBytes(options_.path) + RawBytes(options_.path + "-wal");
  EXPECT_EQ(raw.find(kValue), std::string::npos);
}

TEST_F(SqliteStoreSecretsTest, KeyFileHasMode0600AndSurvivesReopen) {
  struct stat st;
  ASSERT_EQ(stat((options_.path + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  AUTOMATE_ASSERT_OK(store_->SetSecret("A", kValue, BaseTime()));
  store_.reset();
  store_ = automate_testing::OpenStoreOrDie(options_);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto values, store_->RevealSecrets({"A"}));
  EXPECT_EQ(values["A"], kValue);
}

TEST_F(SqliteStoreSecretsTest, WrongKeyFileIsRefusedOrCannotDecrypt) {
  AUTOMATE_ASSERT_OK(store_->SetSecret("A", kValue, BaseTime()));
  store_.reset();
  SqliteStoreOptions options = options_;
  options.secret_key_path = dir_.Join("short.key");
  automate_testing::WriteFileOrDie(options.secret_key_path, "0123456789");
  EXPECT_THAT(OpenSqliteStore(options),
              StatusIs(absl::StatusCode::kFailedPrecondition, "has 10 bytes, want 32"));

  options.secret_key_path = dir_.Join("other.key");  // created fresh: another key
  auto store = automate_testing::OpenStoreOrDie(options);
  ASSERT_NE(store, nullptr);
  auto revealed = store->RevealSecrets({"A"});
  EXPECT_THAT(revealed, StatusIs(absl::StatusCode::kDataLoss, "cannot decrypt"));
  EXPECT_EQ(revealed.status().ToString().find(kValue), std::string::npos);
}

}  // namespace
}  // namespace automate
