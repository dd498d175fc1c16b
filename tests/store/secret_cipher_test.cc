#include "store/secret_cipher.h"

#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using ::automate_testing::StatusIs;

TEST(SecretCipherTest, SealOpenRoundTripWithFreshNonces) {
  SecretCipher cipher = SecretCipher::FromKey(std::string(32, 'k'));
  auto a = cipher.Seal("TOKEN", "hunter2");
  auto b = cipher.Seal("TOKEN", "hunter2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);  // random nonce per value
  EXPECT_EQ(a->find("hunter2"), std::string::npos);
  auto opened = cipher.Open("TOKEN", *a);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "hunter2");
  auto empty = cipher.Seal("E", "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*cipher.Open("E", *empty), "");
}

TEST(SecretCipherTest, NameIsAuthenticated) {
  SecretCipher cipher = SecretCipher::FromKey(std::string(32, 'k'));
  auto sealed = cipher.Seal("A", "value");
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(cipher.Open("B", *sealed), StatusIs(absl::StatusCode::kDataLoss, "cannot decrypt"));
  std::string tampered = *sealed;
  tampered[20] ^= 1;
  EXPECT_THAT(cipher.Open("A", tampered), StatusIs(absl::StatusCode::kDataLoss, "A"));
  EXPECT_THAT(cipher.Open("A", "x"), StatusIs(absl::StatusCode::kDataLoss, "A"));
}

TEST(SecretCipherTest, WrongKeyFailsWithoutRevealingValue) {
  auto sealed = SecretCipher::FromKey(std::string(32, 'k')).Seal("A", "s3cr3t");
  ASSERT_TRUE(sealed.ok());
  auto opened = SecretCipher::FromKey(std::string(32, 'j')).Open("A", *sealed);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss, "wrong key"));
  EXPECT_EQ(opened.status().ToString().find("s3cr3t"), std::string::npos);
}

TEST(SecretCipherTest, KeyFileIsCreatedOnceWithMode0600) {
  automate_testing::TempDir dir;
  std::string path = dir.Join("k");
  auto first = SecretCipher::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  auto sealed = first->Seal("A", "v");
  auto second = SecretCipher::LoadOrCreate(path);  // reads the same key
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second->Open("A", *sealed), "v");
}

TEST(SecretCipherTest, KeyFileOfWrongSizeIsRefused) {
  automate_testing::TempDir dir;
  automate_testing::WriteFileOrDie(dir.Join("k"), "short");
  EXPECT_THAT(SecretCipher::LoadOrCreate(dir.Join("k")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "has 5 bytes, want 32"));
}

}  // namespace
}  // namespace automate::internal
