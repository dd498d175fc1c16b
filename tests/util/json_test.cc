#include "automate/json.h"

#include <string>

#include "automate/v1/job.pb.h"
#include "gtest/gtest.h"

namespace automate_testing {
namespace {

// Maps print in key order whatever order they were filled in, so the CLI's
// -o json/yaml and the API's bodies are stable from one process to the next.
TEST(MessageToJsonTest, MapsAreInKeyOrder) {
  automate::v1::JobSpec a, b;
  for (int i = 0; i < 40; ++i) (*a.mutable_labels())["k" + std::to_string(i)] = "v";
  for (int i = 39; i >= 0; --i) (*b.mutable_labels())["k" + std::to_string(i)] = "v";
  a.set_name("x");
  b.set_name("x");
  auto ja = automate::MessageToJson(a);
  auto jb = automate::MessageToJson(b);
  ASSERT_TRUE(ja.ok()) << ja.status();
  ASSERT_TRUE(jb.ok()) << jb.status();
  EXPECT_EQ(*ja, *jb);
  EXPECT_LT(ja->find("\"k0\""), ja->find("\"k1\""));
  EXPECT_LT(ja->find("\"k1\""), ja->find("\"k10\""));
  EXPECT_LT(ja->find("\"k10\""), ja->find("\"k2\""));
  EXPECT_EQ(ja->find("\"name\":\"x\""), 1u);
}

TEST(MessageToJsonTest, UsesTheProto3Mapping) {
  automate::v1::JobSpec spec;
  spec.set_name("j");
  spec.set_priority(3);
  spec.mutable_timeout()->set_seconds(90);
  spec.mutable_log_limit()->set_bytes(int64_t{1} << 40);
  auto json = automate::MessageToJson(spec);
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"timeout\":\"90s\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"logLimit\":{\"bytes\":\"1099511627776\"}"), std::string::npos) << *json;
}

}  // namespace
}  // namespace automate_testing
