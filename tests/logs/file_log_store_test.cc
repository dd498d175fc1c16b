#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "automate/log.h"
#include "gtest/gtest.h"
#include "logs/file_log_store.h"
#include "util/test_util.h"

namespace automate {
namespace {

using automate_testing::StatusIs;
using automate_testing::TempDir;

const absl::Time kT0 = absl::FromUnixSeconds(1767225600);

std::vector<LogChunk> MakeChunks(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<LogChunk> chunks;
  int64_t offset = 0;
  for (int i = 0; i < n; ++i) {
    std::string data(1 + rng() % 300, '\0');
    for (char& c : data) c = static_cast<char>(rng());  // Bytes, not text.
    auto stream = static_cast<v1::LogStream>(1 + rng() % 3);
    chunks.push_back(LogChunk{offset, kT0 + absl::Nanoseconds(i * 1001), stream, data});
    offset += static_cast<int64_t>(data.size());
  }
  return chunks;
}

std::vector<LogChunk> ReadAll(LogFileReader* reader, int64_t offset) {
  std::vector<LogChunk> out;
  while (true) {
    absl::StatusOr<size_t> n = reader->ReadAt(offset, 100000, &out);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) return out;
    offset = out.back().offset + static_cast<int64_t>(out.back().data.size());
  }
}

std::string Concat(const std::vector<LogChunk>& chunks) {
  std::string s;
  for (const LogChunk& c : chunks) s += c.data;
  return s;
}

TEST(FileLogStoreTest, RoundTripKeepsOffsetsStreamsTimesAndBytes) {
  TempDir dir;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.Join("logs")));
  std::vector<LogChunk> chunks = MakeChunks(2000, 1);
  {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex1"));
    for (const LogChunk& c : chunks) AUTOMATE_ASSERT_OK(writer->Append(c));
    AUTOMATE_ASSERT_OK(writer->Sync());
  }
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, store->OpenReader("ex1"));
  std::vector<LogChunk> got = ReadAll(reader.get(), 0);
  ASSERT_EQ(got.size(), chunks.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, chunks[i].offset);
    EXPECT_EQ(got[i].time, chunks[i].time);
    EXPECT_EQ(got[i].stream, chunks[i].stream);
    EXPECT_EQ(got[i].data, chunks[i].data);
  }
}

TEST(FileLogStoreTest, ReadAtAnyOffsetIncludingMidChunk) {
  TempDir dir;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.path()));
  std::vector<LogChunk> chunks = MakeChunks(20000, 2);  // ~3 MB: many index entries.
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
  for (const LogChunk& c : chunks) AUTOMATE_ASSERT_OK(writer->Append(c));
  const std::string all = Concat(chunks);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, store->OpenReader("ex"));
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    const int64_t offset = rng() % all.size();
    std::vector<LogChunk> out;
    AUTOMATE_ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(offset, 4096, &out));
    ASSERT_GT(n, 0u);
    EXPECT_EQ(out[0].offset, offset);
    std::string got = Concat(out);
    EXPECT_EQ(got, all.substr(offset, got.size()));
  }
  std::vector<LogChunk> out;
  EXPECT_EQ(*reader->ReadAt(static_cast<int64_t>(all.size()), 4096, &out), 0u);
}

TEST(FileLogStoreTest, MissingLogReadsEmptyAndBadIdsAreRefused) {
  TempDir dir;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.path()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, store->OpenReader("nothing"));
  std::vector<LogChunk> out;
  EXPECT_EQ(*reader->ReadAt(0, 100, &out), 0u);
  for (const char* bad : {"", "..", "../x", "a/b", ".hidden", "a b"}) {
    EXPECT_THAT(store->OpenWriter(bad), StatusIs(absl::StatusCode::kInvalidArgument, "id"));
    EXPECT_THAT(store->OpenReader(bad), StatusIs(absl::StatusCode::kInvalidArgument, "id"));
  }
  AUTOMATE_EXPECT_OK(store->Delete("nothing"));
}

TEST(FileLogStoreTest, AppendAtWrongOffsetIsRefused) {
  TempDir dir;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.path()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
  EXPECT_THAT(writer->Append(LogChunk{5, kT0, v1::STDOUT, "x"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "offset"));
}

// A crash can leave any prefix of the file: reopening keeps exactly the whole
// records, and appending continues after them.
TEST(FileLogStoreTest, TornTailIsRepairedAtAnyCut) {
  TempDir dir;
  std::vector<LogChunk> chunks = MakeChunks(3000, 4);
  std::vector<int64_t> file_ends;  // .log size after each record.
  {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.Join("orig")));
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
    for (const LogChunk& c : chunks) {
      AUTOMATE_ASSERT_OK(writer->Append(c));
      file_ends.push_back(static_cast<int64_t>(std::filesystem::file_size(dir.Join("orig/ex.log"))));
    }
  }
  std::mt19937 rng(5);
  for (int round = 0; round < 25; ++round) {
    const std::string sub = dir.Join("cut" + std::to_string(round));
    std::filesystem::create_directories(sub);
    std::filesystem::copy(dir.Join("orig/ex.log"), sub + "/ex.log");
    std::filesystem::copy(dir.Join("orig/ex.idx"), sub + "/ex.idx");
    const int64_t cut = round == 0 ? file_ends.back() - 1 : rng() % file_ends.back();
    ASSERT_EQ(truncate((sub + "/ex.log").c_str(), cut), 0);
    size_t whole = std::upper_bound(file_ends.begin(), file_ends.end(), cut) - file_ends.begin();
    const int64_t expect_size = whole == 0 ? 0 : chunks[whole - 1].offset +
                                                     static_cast<int64_t>(chunks[whole - 1].data.size());
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(sub));
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
    ASSERT_EQ(writer->size(), expect_size) << "cut at " << cut;
    AUTOMATE_ASSERT_OK(writer->Append(LogChunk{expect_size, kT0, v1::STDOUT, "after\n"}));
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, store->OpenReader("ex"));
    std::vector<LogChunk> got = ReadAll(reader.get(), 0);
    ASSERT_EQ(got.size(), whole + 1);
    EXPECT_EQ(got.back().data, "after\n");
    // Seeks through the (repaired) index still land on records.
    std::vector<LogChunk> mid;
    AUTOMATE_ASSERT_OK(reader->ReadAt(expect_size / 2, 10, &mid));
    if (expect_size > 0) {
      EXPECT_EQ(mid[0].offset, expect_size / 2);
    }
  }
}

TEST(FileLogStoreTest, BadChecksumAtTailIsCutOff) {
  TempDir dir;
  std::vector<LogChunk> chunks = MakeChunks(10, 6);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store, OpenFileLogStore(dir.path()));
  {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
    for (const LogChunk& c : chunks) AUTOMATE_ASSERT_OK(writer->Append(c));
  }
  std::string bytes = automate_testing::ReadFileOrDie(dir.Join("ex.log"));
  bytes.back() ^= 0x55;
  automate_testing::WriteFileOrDie(dir.Join("ex.log"), bytes);
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store->OpenWriter("ex"));
  EXPECT_EQ(writer->size(), chunks[9].offset);
}

TEST(FileLogStoreTest, ReaderOfAnotherStoreSeesEachAppendAtOnce) {
  TempDir dir;
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store_a, OpenFileLogStore(dir.path()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto store_b, OpenFileLogStore(dir.path()));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto writer, store_a->OpenWriter("ex"));
  AUTOMATE_ASSERT_OK_AND_ASSIGN(auto reader, store_b->OpenReader("ex"));
  int64_t offset = 0;
  for (int i = 0; i < 100; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    AUTOMATE_ASSERT_OK(writer->Append(LogChunk{offset, kT0, v1::STDERR, line}));
    std::vector<LogChunk> out;
    ASSERT_EQ(*reader->ReadAt(offset, 1 << 20, &out), 1u);
    EXPECT_EQ(out[0].data, line);
    offset += static_cast<int64_t>(line.size());
  }
}

}  // namespace
}  // namespace automate
