#include "engine/start_journal.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "automate/automate.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate_testing {
namespace {

using automate::internal::StartJournal;
namespace v1 = automate::v1;

TEST(StartJournalTest, EntriesSurviveReopeningAndATornLastLineIsCut) {
  TempDir dir;
  const std::string path = dir.path() + "/starts.journal";
  const absl::Time t = absl::FromUnixNanos(1'780'000'000'123'456'789);
  {
    auto journal = StartJournal::Open(path);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_TRUE((*journal)->Entries().empty());
    ASSERT_TRUE((*journal)->Record({"01A", 1, 0, t}).ok());
    ASSERT_TRUE((*journal)->Record({"01B", 2, 4096, t + absl::Seconds(1)}).ok());
    EXPECT_EQ((*journal)->bytes(), FileSize(path));
  }
  // The engine died inside a write: half a line.
  WriteFileOrDie(path, ReadFileOrDie(path) + "01C 1 0 17800");
  auto journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok()) << journal.status();
  std::vector<StartJournal::Entry> entries = (*journal)->Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].execution_id, "01A");
  EXPECT_EQ(entries[0].attempt, 1);
  EXPECT_EQ(entries[0].time, t);
  EXPECT_EQ(entries[1].execution_id, "01B");
  EXPECT_EQ(entries[1].attempt, 2);
  EXPECT_EQ(entries[1].log_offset, 4096);
  // The next line starts on its own, not glued to the torn one.
  ASSERT_TRUE((*journal)->Record({"01D", 1, 0, t}).ok());
  journal->reset();
  journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ((*journal)->Entries().size(), 3u);
  EXPECT_EQ((*journal)->Entries()[2].execution_id, "01D");
}

TEST(StartJournalTest, CompactKeepsWhatItIsToldAndRefusesBadIds) {
  TempDir dir;
  const std::string path = dir.path() + "/starts.journal";
  auto journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok());
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE((*journal)->Record({id, 1, 0, absl::Now()}).ok());
  // Keeping everything leaves the file alone (no rewrite: the same inode).
  struct stat before, after;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE((*journal)->Compact([](std::vector<StartJournal::Entry> all) { return all; }).ok());
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  ASSERT_TRUE((*journal)
                  ->Compact([](std::vector<StartJournal::Entry> all) {
                    EXPECT_EQ(all.size(), 3u);
                    return std::vector<StartJournal::Entry>{all[1]};
                  })
                  .ok());
  ASSERT_EQ((*journal)->Entries().size(), 1u);
  EXPECT_EQ((*journal)->bytes(), FileSize(path));
  ASSERT_TRUE((*journal)->Record({"d", 1, 0, absl::Now()}).ok());  // Appends to the new file.
  journal->reset();
  journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ((*journal)->Entries().size(), 2u);
  EXPECT_EQ((*journal)->Entries()[0].execution_id, "b");
  EXPECT_EQ((*journal)->Entries()[1].execution_id, "d");
  EXPECT_EQ((*journal)->Record({"with space", 1, 0, absl::Now()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*journal)->Record({"", 1, 0, absl::Now()}).code(), absl::StatusCode::kInvalidArgument);
}

// A write that fails halfway (here: past RLIMIT_FSIZE, as on a full disk)
// leaves no part of its line for the next one to be glued to.
TEST(StartJournalTest, AFailedWriteLeavesNoFragment) {
  TempDir dir;
  const std::string path = dir.path() + "/starts.journal";
  auto journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok());
  ASSERT_TRUE((*journal)->Record({"01A", 1, 0, absl::Now()}).ok());
  const int64_t before = FileSize(path);
  struct sigaction ignore = {}, old_action;
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = static_cast<rlim_t>(before + 10);  // Room for 10 bytes of the next line.
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  absl::Status failed = (*journal)->Record({"01B", 1, 0, absl::Now()});
  setrlimit(RLIMIT_FSIZE, &old_limit);
  sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(FileSize(path), before);
  EXPECT_EQ((*journal)->bytes(), before);
  ASSERT_TRUE((*journal)->Record({"01C", 2, 0, absl::Now()}).ok());
  journal->reset();
  journal = StartJournal::Open(path);
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ((*journal)->Entries().size(), 2u);
  EXPECT_EQ((*journal)->Entries()[1].execution_id, "01C");
  EXPECT_EQ((*journal)->Entries()[1].attempt, 2);
}

TEST(StartJournalTest, LinesThatAreNotOursAreSkipped) {
  StartJournal::Entry e;
  EXPECT_TRUE(automate::internal::ParseStartJournalLine("01A 1 0 5", &e));
  EXPECT_FALSE(automate::internal::ParseStartJournalLine("01A 0 0 5", &e));  // Attempts start at 1.
  EXPECT_FALSE(automate::internal::ParseStartJournalLine("01A 1 -1 5", &e));
  EXPECT_FALSE(automate::internal::ParseStartJournalLine("01A 1 0", &e));
  EXPECT_FALSE(automate::internal::ParseStartJournalLine("01A x 0 5", &e));
  EXPECT_FALSE(automate::internal::ParseStartJournalLine("", &e));
}

// Ends every attempt at once, from inside Start(); holds the start of the
// job "held" until `release` is notified.
class InstantExecutor : public automate::Executor {
 public:
  class Handle : public automate::AttemptHandle {
   public:
    std::string external_id() const override { return "instant"; }
    void Cancel(absl::Duration) override {}
  };
  explicit InstantExecutor(absl::Notification* release) : release_(release) {}
  absl::string_view name() const override { return "local"; }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Start(StartParams params) override {
    if (params.job->name() == "held") release_->WaitForNotification();
    params.on_done(automate::AttemptOutcome::Exited(0));
    return std::make_unique<Handle>();
  }
  absl::StatusOr<std::unique_ptr<automate::AttemptHandle>> Reattach(ReattachParams) override {
    return absl::NotFoundError("instant: gone");
  }

 private:
  absl::Notification* release_;
};

// While an engine runs, the journal is cut back once it passes 1 MiB, to
// the starts the store does not have yet (here: one held inside Start());
// a closed engine's journal is emptied by the next one.
TEST(StartJournalTest, TheEnginesJournalStaysSmallAndKeepsUnstoredStarts) {
  TempDir dir;
  const std::string path = dir.path() + "/starts.journal";
  absl::Notification release;
  auto options = automate::DefaultEngineOptions(dir.path());
  ASSERT_TRUE(options.ok());
  options->executors.clear();
  options->executors.push_back(std::make_unique<InstantExecutor>(&release));
  options->max_running = 64;
  auto engine = automate::Engine::Open(*std::move(options));
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (const char* name : {"instant", "held"}) {
    v1::JobSpec spec;
    spec.set_name(name);
    spec.mutable_executor()->mutable_local()->add_command("true");
    ASSERT_TRUE((*engine)->ApplyJob(spec).ok());
  }
  automate::SubmitRequest hold;
  hold.job = "held";
  auto held = (*engine)->Submit(hold);
  ASSERT_TRUE(held.ok()) << held.status();
  // About 51 bytes a start: 40,000 starts write 2 MB, so the journal is
  // compacted at least once while "held" is inside Start().
  for (int batch = 0; batch < 40; ++batch) {
    std::vector<automate::SubmitRequest> requests(1000);
    for (auto& r : requests) r.job = "instant";
    auto execs = (*engine)->SubmitBatch(requests);
    ASSERT_TRUE(execs.ok()) << execs.status();
    // Keep the queue short, as a steady load would.
    auto done = (*engine)->Wait(execs->back().id(), absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(done.ok()) << done.status();
  }
  EXPECT_LE(FileSize(path), int64_t{1} << 20) << "never compacted";
  {
    auto journal = StartJournal::Open(path);
    ASSERT_TRUE(journal.ok());
    std::vector<StartJournal::Entry> entries = (*journal)->Entries();
    EXPECT_LT(entries.size(), 20'600u);
    ASSERT_FALSE(entries.empty());
    EXPECT_EQ(entries.front().execution_id, held->id()) << "an unstored start was dropped";
    EXPECT_EQ(entries.front().attempt, 1);
  }
  release.Notify();
  auto done = (*engine)->Wait(held->id(), absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  engine->reset();
  auto options2 = automate::DefaultEngineOptions(dir.path());
  ASSERT_TRUE(options2.ok());
  auto reopened = automate::Engine::Open(*std::move(options2));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(FileSize(path), 0);
}

}  // namespace
}  // namespace automate_testing
