#include "logs/execution_log.h"

#include <filesystem>
#include <atomic>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "automate/log.h"
#include "automate/testing/fake_clock.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate::internal {
namespace {

using automate_testing::FakeClock;
using automate_testing::StatusIs;
using automate_testing::TempDir;

ExecutionLogOptions Options(std::function<void(ExecutionLogOptions&)> set) {
  ExecutionLogOptions o;
  set(o);
  return o;
}

class ExecutionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenFileLogStore(dir_.path());
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
  }
  std::shared_ptr<ExecutionLog> Open(ExecutionLogOptions options = {}) {
    options.clock = &clock_;
    auto log = ExecutionLog::Open(store_.get(), "ex1", std::move(options));
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *log : nullptr;
  }
  // Reads until end of stream; checks that the chunks are contiguous.
  std::vector<LogChunk> Drain(LogReader* reader) {
    std::vector<LogChunk> all;
    int64_t next = reader->offset();
    while (true) {
      std::vector<LogChunk> out;
      absl::StatusOr<size_t> n = reader->Read(&out, 1 << 20, absl::InfiniteFuture());
      if (!n.ok()) {
        EXPECT_EQ(n.status().code(), absl::StatusCode::kOutOfRange) << n.status();
        return all;
      }
      for (LogChunk& c : out) {
        EXPECT_EQ(c.offset, next);
        next += static_cast<int64_t>(c.data.size());
        all.push_back(std::move(c));
      }
    }
  }
  static std::string Text(const std::vector<LogChunk>& chunks) {
    std::string s;
    for (const LogChunk& c : chunks) s += c.data;
    return s;
  }
  std::string StoredText() {
    std::unique_ptr<LogReader> r = NewStoredLogReader(store_.get(), "ex1", 0, false, nullptr,
                                                      absl::Seconds(1), &clock_);
    return Text(Drain(r.get()));
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(ExecutionLogTest, SplitsLinesPerStreamWithOffsetsAndTimes) {
  auto log = Open();
  const absl::Time t1 = clock_.Now();
  log->Write(v1::STDOUT, "out one\nout ");
  clock_.Advance(absl::Seconds(1));
  log->Write(v1::STDERR, "err\n", absl::FromUnixSeconds(42));
  log->Write(v1::STDOUT, "two\n");
  log->WriteSystem("attempt 1 exited 0");
  AUTOMATE_ASSERT_OK(log->Close());
  std::vector<LogChunk> chunks = Drain(log->NewReader(0, false).get());
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].data, "out one\n");
  EXPECT_EQ(chunks[0].stream, v1::STDOUT);
  EXPECT_EQ(chunks[0].time, t1);
  EXPECT_EQ(chunks[1].data, "err\n");
  EXPECT_EQ(chunks[1].stream, v1::STDERR);
  EXPECT_EQ(chunks[1].time, absl::FromUnixSeconds(42));
  EXPECT_EQ(chunks[2].data, "out two\n");
  EXPECT_EQ(chunks[2].time, t1);  // The time of the line's first byte.
  EXPECT_EQ(chunks[3].data, "attempt 1 exited 0\n");
  EXPECT_EQ(chunks[3].stream, v1::SYSTEM);
  EXPECT_EQ(log->size(), 39);
}

// A new log opens the store's writer with its first bytes: one that stays
// silent leaves no file; one that writes is stored as any other.
TEST_F(ExecutionLogTest, NewLogTouchesTheStoreOnlyWhenWrittenTo) {
  {
    auto silent = Open(Options([](ExecutionLogOptions& o) { o.new_log = true; }));
    EXPECT_EQ(silent->size(), 0);
    AUTOMATE_ASSERT_OK(silent->Sync());
    AUTOMATE_ASSERT_OK(silent->Close());
    EXPECT_TRUE(Drain(silent->NewReader(0, false).get()).empty());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("ex1.log")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("ex1.idx")));

  auto log = Open(Options([](ExecutionLogOptions& o) { o.new_log = true; }));
  auto follower = log->NewReader(0, true);
  log->Write(v1::STDOUT, "first\n");
  log->WriteSystem("automate: done");
  AUTOMATE_ASSERT_OK(log->Close());
  EXPECT_EQ(Text(Drain(follower.get())), "first\nautomate: done\n");
  EXPECT_EQ(StoredText(), "first\nautomate: done\n");
  EXPECT_EQ(log->size(), 21);
}

TEST_F(ExecutionLogTest, StoredOutputIgnoresSystemLinesAndSurvivesReopening) {
  const absl::Time t1 = absl::FromUnixNanos(1700000000123456789);
  const absl::Time t2 = t1 + absl::Nanoseconds(1);
  auto stored = [&](int64_t from) {
    absl::StatusOr<StoredOutput> out = ReadStoredOutput(store_.get(), "ex1", from);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : StoredOutput{};
  };
  {
    auto log = Open();
    EXPECT_EQ(stored(0).last_time, absl::InfinitePast());
    log->WriteSystem("automate: attempt 1");
    log->Write(v1::STDOUT, "one\n", t1);
    log->Write(v1::STDERR, "two\n", t2);
    EXPECT_EQ(stored(0).last_time, t2);
    // Many system lines after it, over more than one read of the file.
    for (int i = 0; i < 15000; ++i) log->WriteSystem(std::string(100, 's'));
    StoredOutput out = stored(0);
    EXPECT_EQ(out.last_time, t2);
    EXPECT_EQ(out.stdout_bytes, 4);
    EXPECT_EQ(out.stderr_bytes, 4);
    ASSERT_TRUE(log->Close().ok());
  }
  auto reopened = Open();
  StoredOutput out = stored(0);
  EXPECT_EQ(out.last_time, t2);
  EXPECT_EQ(out.stdout_bytes, 4);
  EXPECT_EQ(out.stderr_bytes, 4);
  // From an offset on: only what follows it counts.
  reopened->Write(v1::STDOUT, "three\n", t2 + absl::Seconds(1));
  ASSERT_TRUE(reopened->Sync().ok());
  out = stored(out.stdout_bytes + out.stderr_bytes + 20 + 15000 * 101);
  EXPECT_EQ(out.stdout_bytes, 6);
  EXPECT_EQ(out.stderr_bytes, 0);
  EXPECT_EQ(out.last_time, t2 + absl::Seconds(1));
}

TEST_F(ExecutionLogTest, TenMegabyteLineAndNonUtf8SurviveIntact) {
  auto log = Open();
  std::string big(10 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : big) c = static_cast<char>('a' + rng() % 26);
  const std::string binary("\xff\xfe\x00\x80\xc3(\n", 7);
  for (size_t i = 0; i < big.size(); i += 100000) log->Write(v1::STDOUT, big.substr(i, 100000));
  log->FlushStreams();
  log->Write(v1::STDERR, binary);
  AUTOMATE_ASSERT_OK(log->Close());
  std::vector<LogChunk> chunks = Drain(log->NewReader(0, false).get());
  ASSERT_EQ(chunks.size(), 160u + 1);  // 10 MiB in 64 KiB chunks, then the binary line.
  EXPECT_EQ(Text(chunks), big + binary);
  EXPECT_EQ(chunks.back().data, binary);
  EXPECT_EQ(StoredText(), big + binary);
}

TEST_F(ExecutionLogTest, MasksSecretsBeforeStoringAndSending) {
  auto log = Open(Options([](auto& o) { o.secret_values = {"hunter2hunter2"}; }));
  auto follower = log->NewReader(0, true);
  log->Write(v1::STDOUT, "a hunter2hu");
  log->Write(v1::STDERR, "hunter2hunter2 on stderr\n");  // Its own stream: masked.
  log->Write(v1::STDOUT, "nter2 b\n");                   // Completes the stdout one.
  log->Write(v1::STDOUT, "half hunter2");
  log->Write(v1::STDERR, "hunter2\n");  // Streams do not join: nothing to mask.
  log->Write(v1::STDOUT, " end\n");
  log->WriteSystem("system says hunter2hunter2");
  log->SetSecretValues({"newsecret"});
  log->Write(v1::STDOUT, "new newsecret\n");
  AUTOMATE_ASSERT_OK(log->Close());
  const std::string expected =
      "**** on stderr\na **** b\nhunter2\nhalf hunter2 end\nsystem says ****\nnew ****\n";
  EXPECT_EQ(Text(Drain(follower.get())), expected);
  EXPECT_EQ(StoredText(), expected);
  EXPECT_EQ(automate_testing::ReadFileOrDie(dir_.Join("ex1.log")).find("hunter2hunter2"),
            std::string::npos);
}

TEST_F(ExecutionLogTest, LimitTruncateEndsOutputWithMarker) {
  auto log = Open(Options([](auto& o) {
    o.limit_bytes = 1 << 20;
    o.limit_action = v1::LogLimit::TRUNCATE;
  }));
  const std::string line(99, 'x');
  for (int i = 0; i < 20000; ++i) log->Write(v1::STDOUT, line + "\n");
  log->WriteSystem("attempt 1 exited 0");
  AUTOMATE_ASSERT_OK(log->Close());
  std::vector<LogChunk> chunks = Drain(log->NewReader(0, false).get());
  int64_t counted = 0;
  for (const LogChunk& c : chunks) counted += c.stream == v1::SYSTEM ? 0 : c.data.size();
  EXPECT_EQ(counted, 1 << 20);
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[chunks.size() - 2].data,
            "automate: log limit of 1 MiB reached; further output discarded\n");
  EXPECT_EQ(chunks[chunks.size() - 2].stream, v1::SYSTEM);
  EXPECT_EQ(chunks.back().data, "attempt 1 exited 0\n");
}

TEST_F(ExecutionLogTest, LimitFailCallsBackOnceAndNewAttemptMayLog) {
  int calls = 0;
  auto log = Open(Options([&](auto& o) {
    o.limit_bytes = 1000;
    o.limit_action = v1::LogLimit::FAIL;
    o.on_limit_exceeded = [&] { ++calls; };
  }));
  for (int i = 0; i < 100; ++i) log->Write(v1::STDERR, "0123456789\n");
  EXPECT_EQ(calls, 1);
  EXPECT_LT(log->size(), 1000 + 100);
  const std::string text = StoredText();
  EXPECT_NE(text.find("automate: log limit of 1000 bytes reached; failing the attempt\n"),
            std::string::npos);
  log->StartAttempt();
  log->Write(v1::STDOUT, "more\n");  // Already at the limit: a marker again.
  EXPECT_EQ(calls, 2);
  AUTOMATE_ASSERT_OK(log->Close());
}

TEST_F(ExecutionLogTest, FiftyFollowersGetIdenticalLogs) {
  auto log = Open(Options([](auto& o) { o.live_buffer_bytes = 256 << 10; }));
  std::vector<std::string> got(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i, reader = std::shared_ptr<LogReader>(log->NewReader(0, true))] {
      got[i] = Text(Drain(reader.get()));
    });
  }
  std::string expected;
  std::mt19937 rng(8);
  for (int i = 0; i < 20000; ++i) {
    std::string line = "line " + std::to_string(i) + std::string(rng() % 200, '.') + "\n";
    log->Write(i % 3 ? v1::STDOUT : v1::STDERR, line);
    expected += line;
  }
  AUTOMATE_ASSERT_OK(log->Close());
  for (auto& t : threads) t.join();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(got[i] == expected) << "follower " << i;
}

TEST_F(ExecutionLogTest, StalledFollowerNeverBlocksWriterAndCatchesUpFromFile) {
  auto log = Open(Options([](auto& o) { o.live_buffer_bytes = 1 << 20; }));
  auto stalled = log->NewReader(0, true);
  const std::string block = std::string(1023, 'y') + "\n";
  for (int i = 0; i < 50 * 1024; ++i) log->Write(v1::STDOUT, block);  // 50 MiB.
  EXPECT_EQ(log->size(), 50 << 20);
  auto mid = log->NewReader(25 << 20, true);  // Attached mid-run.
  log->Write(v1::STDOUT, "last\n");
  AUTOMATE_ASSERT_OK(log->Close());
  std::vector<LogChunk> all = Drain(stalled.get());
  EXPECT_EQ(Text(all).size(), (50u << 20) + 5);
  EXPECT_EQ(all.back().data, "last\n");
  EXPECT_EQ(Text(Drain(mid.get())).size(), (25u << 20) + 5);
}

TEST_F(ExecutionLogTest, ReaderPastEndWaitsThenEnds) {
  auto log = Open();
  auto reader = log->NewReader(10, true);
  std::vector<LogChunk> out;
  EXPECT_EQ(*reader->Read(&out, 100, clock_.Now()), 0u);  // Deadline passed, nothing yet.
  log->Write(v1::STDOUT, "0123456789abc\n");
  AUTOMATE_ASSERT_OK_AND_ASSIGN(size_t n, reader->Read(&out, 100, absl::InfiniteFuture()));
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(out[0].data, "abc\n");
  EXPECT_EQ(out[0].offset, 10);
  AUTOMATE_ASSERT_OK(log->Close());
  EXPECT_THAT(reader->Read(&out, 100, absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kOutOfRange, ""));
  EXPECT_THAT(log->NewReader(100, true)->Read(&out, 100, absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kOutOfRange, ""));
}

TEST_F(ExecutionLogTest, HundredMegabytesCompleteAndOrdered) {
  auto log = Open();
  std::string got;
  std::thread follower([&, reader = std::shared_ptr<LogReader>(log->NewReader(0, true))] {
    got = Text(Drain(reader.get()));
  });
  std::string expected;
  expected.reserve(100 << 20);
  std::string block;
  for (int i = 0; expected.size() < (100u << 20); ++i) {
    block.clear();
    for (int j = 0; j < 500; ++j) block += "line " + std::to_string(i * 500 + j) + " of output\n";
    log->Write(v1::STDOUT, block);
    expected += block;
  }
  AUTOMATE_ASSERT_OK(log->Close());
  follower.join();
  EXPECT_TRUE(got == expected);
  EXPECT_TRUE(StoredText() == expected);
}

TEST_F(ExecutionLogTest, ReopenAppendsAfterEarlierOutput) {
  {
    auto log = Open();
    log->Write(v1::STDOUT, "first engine\n");
    AUTOMATE_ASSERT_OK(log->Close());
  }
  auto log = Open();
  EXPECT_EQ(log->size(), 13);
  log->Write(v1::STDOUT, "second engine\n");
  AUTOMATE_ASSERT_OK(log->Close());
  EXPECT_EQ(Text(Drain(log->NewReader(0, false).get())), "first engine\nsecond engine\n");
}

TEST_F(ExecutionLogTest, StoredReaderFollowsAnotherWriterUntilFinal) {
  std::atomic<bool> final{false};
  std::thread writer([&] {
    auto other_store = OpenFileLogStore(dir_.path());
    ASSERT_TRUE(other_store.ok());
    auto log = ExecutionLog::Open(other_store->get(), "ex1",
                                  Options([&](auto& o) { o.clock = &clock_; }));
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 2000; ++i) (*log)->Write(v1::STDOUT, "line " + std::to_string(i) + "\n");
    ASSERT_TRUE((*log)->Close().ok());
    final = true;
  });
  auto reader = NewStoredLogReader(
      store_.get(), "ex1", 0, true, [&]() -> absl::StatusOr<bool> { return final.load(); },
      absl::Milliseconds(100), &clock_);
  std::string got;
  while (true) {
    std::vector<LogChunk> out;
    absl::StatusOr<size_t> n = reader->Read(&out, 4096, clock_.Now());
    if (!n.ok()) {
      EXPECT_EQ(n.status().code(), absl::StatusCode::kOutOfRange);
      break;
    }
    for (const LogChunk& c : out) got += c.data;
    if (*n == 0) clock_.Advance(absl::Milliseconds(100));  // Nothing new: poll again later.
  }
  writer.join();
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace automate::internal
