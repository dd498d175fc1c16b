// SqliteStore across processes: a reader in another process while this one
// holds the write lock, and durability when a writer is killed with SIGKILL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace automate {
namespace {

using ::automate_testing::BaseTime;
using ::automate_testing::SampleExecution;

// Runs `body` in a forked child and returns its exit code. The child never
// returns into the test framework.
template <typename F>
int RunInChild(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(SqliteStoreProcessTest, ReaderInAnotherProcessWorksWhileWriteLockIsHeld) {
  automate_testing::TempDir dir;
  SqliteStoreOptions options = automate_testing::StoreOptions(dir);
  auto store = automate_testing::OpenStoreOrDie(options);
  v1::Execution e = SampleExecution("a", BaseTime());
  AUTOMATE_ASSERT_OK(store->WriteExecutions({&e}));
  // An uncommitted write transaction holds the database's write lock.
  auto writer = internal::SqliteDb::Open(options.path, false, absl::Seconds(1));
  ASSERT_TRUE(writer.ok());
  AUTOMATE_ASSERT_OK((*writer)->Exec("BEGIN IMMEDIATE; UPDATE executions SET priority = 9"));

  int code = RunInChild([&]() -> int {
    SqliteStoreOptions child_options = options;
    child_options.busy_timeout = absl::Milliseconds(100);  // fail, don't hang
    auto reader = OpenSqliteStore(child_options);
    if (!reader.ok()) return 10;
    auto got = (*reader)->GetExecution(e.id());
    if (!got.ok()) return 11;
    auto page = (*reader)->ListExecutions({});
    if (!page.ok() || page->executions.size() != 1) return 12;
    if (page->executions[0].version() != 1) return 13;
    return 0;
  });
  EXPECT_EQ(code, 0);
  AUTOMATE_ASSERT_OK((*writer)->Exec("ROLLBACK"));
}

// The child commits executions (create, then update) as fast as it can and
// reports each acknowledged write as "id version\n" on a pipe. It is killed
// at a random point; every acknowledged write must have survived.
TEST(SqliteStoreProcessTest, KillNineLosesNoAcknowledgedWrite) {
  automate_testing::TempDir dir;
  SqliteStoreOptions options = automate_testing::StoreOptions(dir);
  { ASSERT_NE(automate_testing::OpenStoreOrDie(options), nullptr); }  // schema + key
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto store = OpenSqliteStore(options);
    if (!store.ok()) _exit(2);
    for (int i = 0;; ++i) {
      v1::Execution e = SampleExecution("a", BaseTime() + absl::Milliseconds(i));
      for (v1::ExecutionState state : {v1::PENDING, v1::RUNNING}) {
        e.set_state(state);
        if (!(*store)->WriteExecutions({&e}).ok()) _exit(3);
        std::string line = absl::StrCat(e.id(), " ", e.version(), "\n");
        if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
      }
    }
  }
  close(fds[1]);
  std::random_device seed;
  const int kill_after = std::uniform_int_distribution<int>(10, 200)(seed);
  FILE* in = fdopen(fds[0], "r");
  std::map<std::string, int64_t> acked;
  char buf[128];
  for (int lines = 0; fgets(buf, sizeof(buf), in) != nullptr; ++lines) {
    if (lines == kill_after) kill(pid, SIGKILL);
    std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(buf), ' ');
    ASSERT_EQ(parts.size(), 2u) << buf;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &acked[parts[0]]));
  }
  fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  ASSERT_GE(acked.size(), 5u);

  {
    auto db = internal::SqliteDb::Open(options.path, false, absl::Seconds(1));
    ASSERT_TRUE(db.ok());
    auto check = (*db)->Prepare("PRAGMA integrity_check");
    ASSERT_TRUE(check.ok());
    ASSERT_TRUE(*check->Step());
    EXPECT_EQ(check->ColumnText(0), "ok");
  }
  auto store = automate_testing::OpenStoreOrDie(options);
  ASSERT_NE(store, nullptr);
  for (const auto& [id, version] : acked) {
    AUTOMATE_ASSERT_OK_AND_ASSIGN(v1::Execution got, store->GetExecution(id));
    EXPECT_GE(got.version(), version) << id;
  }
}

}  // namespace
}  // namespace automate
