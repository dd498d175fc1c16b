// Store write throughput with synchronous=FULL (one fsync per commit).
//
// BM_WriteBatch: one thread, WriteExecutions batches of 1, 10 and 100 new
// executions: the cost of a commit spread over a batch.
// BM_ConcurrentSingleWrites: 1, 2 and 8 threads each writing one execution
// per call: group commit lets concurrent callers share a commit, so items/s
// should grow with the number of threads instead of staying flat.
//
// The database lives under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp:
// point it at a real disk (not tmpfs) for meaningful fsync numbers.
#include <stdlib.h>

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

}  // namespace

BENCHMARK_MAIN();
