#include "logs/secret_masker.h"

#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace automate::internal {
namespace {

std::string MaskStream(const SecretPatterns& p, const std::vector<std::string>& pieces) {
  StreamMasker m;
  std::string out;
  for (const std::string& s : pieces) m.Process(p, s, &out);
  m.Flush(p, &out);
  return out;
}

TEST(SecretMaskerTest, MasksPlainValue) {
  SecretPatterns p({"hunter2", ""});
  EXPECT_EQ(MaskStream(p, {"pw=hunter2 ok\n"}), "pw=**** ok\n");
}

TEST(SecretMaskerTest, MasksBase64InAllThreeAlignments) {
  const std::string secret = "s3cr3t-Value!";
  SecretPatterns p({secret});
  for (const std::string prefix : {"", "x", "xy", "xyz"}) {
    const std::string encoded = absl::Base64Escape(prefix + secret + "tail");
    const std::string out = MaskStream(p, {"auth: " + encoded + "\n"});
    EXPECT_NE(out.find("****"), std::string::npos) << prefix << " " << encoded << " " << out;
    // Nothing that depends on the secret alone survives: decoding what is left
    // cannot give back the value.
    EXPECT_EQ(out.find(absl::Base64Escape(secret).substr(0, 8)), std::string::npos);
  }
  const std::string url_safe = absl::WebSafeBase64Escape("??" + secret);
  EXPECT_NE(MaskStream(p, {url_safe}).find("****"), std::string::npos);
}

TEST(SecretMaskerTest, MasksUrlEncodedForms) {
  SecretPatterns p({"a/b c&d"});
  EXPECT_EQ(MaskStream(p, {"?q=a%2Fb%20c%26d&x=1"}), "?q=****&x=1");
  EXPECT_EQ(MaskStream(p, {"?q=a%2fb%20c%26d"}), "?q=****");
  EXPECT_EQ(MaskStream(p, {"?q=a%2Fb+c%26d"}), "?q=****");
}

TEST(SecretMaskerTest, MasksValueSplitAcrossWritesAtEveryPoint) {
  const std::string secret = "topsecretvalue";
  SecretPatterns p({secret});
  const std::string text = "before " + secret + " after\n";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(MaskStream(p, {text.substr(0, cut), text.substr(cut)}), "before **** after\n");
  }
  std::string one_by_one;
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(MaskStream(p, bytes), "before **** after\n");
}

TEST(SecretMaskerTest, OverlappingMatchesBecomeOneMask) {
  SecretPatterns p({"abcd", "cdef"});
  EXPECT_EQ(MaskStream(p, {"xabcdefy"}), "x****y");
}

TEST(SecretMaskerTest, HoldsBackOnlyPossibleSecretStarts) {
  SecretPatterns p({"password123"});
  StreamMasker m;
  std::string out;
  m.Process(p, "waiting for input\n", &out);
  EXPECT_EQ(out, "waiting for input\n");  // Shown at once: cannot start a secret.
  m.Process(p, "pass", &out);
  EXPECT_EQ(out, "waiting for input\n");
  m.Process(p, "ing\n", &out);
  EXPECT_EQ(out, "waiting for input\npassing\n");
}

TEST(SecretMaskerTest, DegenerateRepeatsKeepMemoryBounded) {
  SecretPatterns p({"aa"});
  StreamMasker m;
  std::string out;
  for (int i = 0; i < 1000; ++i) m.Process(p, std::string(1000, 'a'), &out);
  m.Flush(p, &out);
  EXPECT_EQ(out.find('a'), std::string::npos);
  EXPECT_LT(out.size(), 10000u);
}

}  // namespace
}  // namespace automate::internal
