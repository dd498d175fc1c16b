// Store write throughput with synchronous=FULL (one fsync per commit).
//
// BM_WriteBatch: one thread, WriteExecutions batches of 1, 10 and 100 new
// executions: the cost of a commit spread over a batch.
// BM_ConcurrentSingleWrites: 1, 2 and 8 threads each writing one execution
// per call: group commit lets concurrent callers share a commit, so items/s
// should grow with the number of threads instead of staying flat.
// BM_StartJournalRecord: what the engine adds to every attempt's start (one
// journal line, before Executor::Start()), beside BM_RawAppend: a write() of
// the same line to an O_APPEND file, the least such a note can cost.
//
// The database lives under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp:
// point it at a real disk (not tmpfs) for meaningful fsync numbers.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "automate/execution.h"
#include "automate/store.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "engine/start_journal.h"

namespace {

std::string g_dir;
std::unique_ptr<automate::Store> g_store;


void OpenStore(const benchmark::State&) {
  g_dir = automate_bench::MakeBenchDir("store_bench");
  automate::SqliteStoreOptions options;
  options.path = g_dir + "/bench.db";
  options.synchronous_full = true;
  auto store = automate::OpenSqliteStore(options);
  if (!store.ok()) std::abort();
  g_store = std::move(store).value();
}

void CloseStore(const benchmark::State&) {
  g_store.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

automate::v1::Execution NewExecution() {
  automate::v1::Execution e;
  absl::Time now = absl::Now();
  e.set_id(automate::NewExecutionId(now));
  e.set_job("bench");
  e.set_state(automate::v1::PENDING);
  e.mutable_create_time()->set_seconds(absl::ToUnixSeconds(now));
  (*e.mutable_args())["n"] = "42";
  e.mutable_job_spec()->set_name("bench");
  e.mutable_job_spec()->mutable_executor()->mutable_local()->add_command("true");
  return e;
}

void BM_WriteBatch(benchmark::State& state) {
  const int batch_size = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<automate::v1::Execution> executions(batch_size);
    std::vector<automate::v1::Execution*> batch;
    for (auto& e : executions) {
      e = NewExecution();
      batch.push_back(&e);
    }
    state.ResumeTiming();
    if (!g_store->WriteExecutions(batch).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}
BENCHMARK(BM_WriteBatch)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Setup(OpenStore)
    ->Teardown(CloseStore)
    ->MinTime(0.5)
    ->UseRealTime();

void BM_ConcurrentSingleWrites(benchmark::State& state) {
  for (auto _ : state) {
    automate::v1::Execution e = NewExecution();
    if (!g_store->WriteExecutions({&e}).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ConcurrentSingleWrites)
    ->Threads(1)
    ->Threads(2)
    ->Threads(8)
    ->Setup(OpenStore)
    ->Teardown(CloseStore)
    ->MinTime(0.5)
    ->UseRealTime();

void BM_StartJournalRecord(benchmark::State& state) {
  automate_bench::StateDir dir("store_bench");
  auto journal = automate::internal::StartJournal::Open(dir.path() + "/starts.journal");
  if (!journal.ok()) std::abort();
  const std::string id = automate::NewExecutionId(absl::Now());
  int attempt = 0;
  for (auto _ : state) {
    if (!(*journal)->Record({id, ++attempt, 0, absl::Now()}).ok()) state.SkipWithError("failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StartJournalRecord)->MinTime(0.5);

void BM_RawAppend(benchmark::State& state) {
  automate_bench::StateDir dir("store_bench");
  const std::string path = dir.path() + "/raw";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  // As long as a journal line: id, attempt, offset, time.
  const std::string line = automate::NewExecutionId(absl::Now()) + " 1 0 1780000000123456789\n";
  for (auto _ : state) {
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      state.SkipWithError("write failed");
    }
  }
  close(fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawAppend)->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
