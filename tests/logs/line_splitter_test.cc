#include "logs/line_splitter.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace automate::internal {
namespace {

std::vector<std::string> Split(LineSplitter* s, const std::vector<std::string>& pieces) {
  std::vector<std::string> out;
  auto emit = [&](absl::string_view c, absl::Time) { out.emplace_back(c); };
  for (const std::string& p : pieces) s->Add(p, absl::UnixEpoch(), emit);
  s->Flush(emit);
  return out;
}

TEST(LineSplitterTest, KeepsNewlinesAndJoinsPieces) {
  LineSplitter s(100);
  EXPECT_EQ(Split(&s, {"a\nb", "c\n", "d", "e\nf"}),
            (std::vector<std::string>{"a\n", "bc\n", "de\n", "f"}));
}

TEST(LineSplitterTest, CutsLongLines) {
  LineSplitter s(4);
  EXPECT_EQ(Split(&s, {"abcdefghij\nxy", "zzz\n"}),
            (std::vector<std::string>{"abcd", "efgh", "ij\n", "xyzz", "z\n"}));
}

}  // namespace
}  // namespace automate::internal
