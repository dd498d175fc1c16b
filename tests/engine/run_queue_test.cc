#include "engine/run_queue.h"

#include "gtest/gtest.h"

namespace automate::internal {
namespace {

std::vector<std::string> Ids(const std::vector<RunQueue::Entry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

TEST(RunQueueTest, HigherPriorityFirstThenFifo) {
  RunQueue q;
  q.Push({"a", "j", 0, 1, 0});
  q.Push({"b", "j", 5, 2, 0});
  q.Push({"c", "j", 0, 3, 0});
  q.Push({"d", "j", 5, 4, 0});
  EXPECT_EQ(Ids(q.PopStartable(10, {})), (std::vector<std::string>{"b", "d", "a", "c"}));
  EXPECT_TRUE(q.empty());
}

TEST(RunQueueTest, RespectsFreeSlots) {
  RunQueue q;
  for (int i = 0; i < 5; ++i) q.Push({std::to_string(i), "j", 0, static_cast<uint64_t>(i), 0});
  EXPECT_EQ(q.PopStartable(2, {}).size(), 2u);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_TRUE(q.PopStartable(0, {}).empty());
}

TEST(RunQueueTest, JobAtLimitDoesNotBlockOthers) {
  RunQueue q;
  q.Push({"a1", "a", 0, 1, 1});
  q.Push({"a2", "a", 0, 2, 1});
  q.Push({"b1", "b", 0, 3, 1});
  // One of job a runs already: a1 and a2 wait, b1 goes ahead of them.
  EXPECT_EQ(Ids(q.PopStartable(10, {{"a", 1}})), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(Ids(q.PopStartable(10, {})), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(Ids(q.PopStartable(10, {{"a", 1}})), (std::vector<std::string>{}));
}

TEST(RunQueueTest, LimitCountsEntriesStartedInTheSameCall) {
  RunQueue q;
  for (int i = 0; i < 10; ++i) q.Push({std::to_string(i), "j", 0, static_cast<uint64_t>(i), 2});
  EXPECT_EQ(q.PopStartable(10, {}).size(), 2u);
}

TEST(RunQueueTest, Remove) {
  RunQueue q;
  q.Push({"a", "j", 0, 1, 0});
  EXPECT_TRUE(q.Contains("a"));
  EXPECT_TRUE(q.Remove("a"));
  EXPECT_FALSE(q.Remove("a"));
  EXPECT_TRUE(q.PopStartable(10, {}).empty());
}

}  // namespace
}  // namespace automate::internal
