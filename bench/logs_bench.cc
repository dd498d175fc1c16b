// Log pipeline throughput: one job's output masked, split, stored and
// delivered to one live follower, beside `cat` copying the same bytes through
// a pipe into a file (the physical limit of this machine's pipe + disk).
//
// Totals are 256 MiB per run (not 1 GiB) to keep the run short on shared CI
// machines; throughput is what is compared.
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "automate/log.h"
#include "benchmark/benchmark.h"
#include "logs/execution_log.h"

namespace automate::internal {
namespace {

constexpr int64_t kTotal = 256 << 20;

std::string MakeDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "logs_bench.XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  return dir != nullptr ? std::string(dir) : std::string("/tmp");
}

// 64 KiB of lines of `line_len` bytes, '\n' included.
std::string Block(size_t write_size, size_t line_len) {
  std::string block;
  while (block.size() < write_size) {
    std::string line(line_len - 1, 'a' + static_cast<char>(block.size() % 26));
    block += line + "\n";
  }
  block.resize(write_size);
  return block;
}

void RunPipeline(benchmark::State& state, size_t write_size, size_t line_len,
                 std::vector<std::string> secrets) {
  const std::string block = Block(write_size, line_len);
  for (auto _ : state) {
    const std::string dir = MakeDir();
    auto store = OpenFileLogStore(dir);
    ExecutionLogOptions options;
    options.secret_values = secrets;
    auto log = ExecutionLog::Open(store->get(), "bench", options);
    if (!log.ok()) {
      state.SkipWithError("open failed");
      return;
    }
    int64_t delivered = 0;
    std::thread follower([&, reader = std::shared_ptr<LogReader>((*log)->NewReader(0, true))] {
      std::vector<LogChunk> out;
      while (true) {
        out.clear();
        absl::StatusOr<size_t> n = reader->Read(&out, 1 << 20, absl::InfiniteFuture());
        if (!n.ok()) break;
        for (const LogChunk& c : out) delivered += static_cast<int64_t>(c.data.size());
      }
    });
    for (int64_t done = 0; done < kTotal; done += static_cast<int64_t>(block.size())) {
      (*log)->Write(v1::STDOUT, block);
    }
    (void)(*log)->Close();
    follower.join();
    if (delivered != (*log)->size()) state.SkipWithError("follower missed bytes");
    state.PauseTiming();
    log->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kTotal);
}

void BM_Pipeline_64KiBWrites_1KiBLines(benchmark::State& state) {
  RunPipeline(state, 64 << 10, 1024, {});
}
void BM_Pipeline_64KiBWrites_100ByteLines(benchmark::State& state) {
  RunPipeline(state, 64 << 10, 100, {});
}
void BM_Pipeline_64KiBWrites_100ByteLines_3Secrets(benchmark::State& state) {
  RunPipeline(state, 64 << 10, 100, {"hunter2hunter2", "AKIAIOSFODNN7EXAMPLE", "p@ss/w0rd"});
}
void BM_Pipeline_OneWritePer100ByteLine(benchmark::State& state) {
  RunPipeline(state, 100, 100, {});
}

// The same bytes through `cat` into a file: what a pipe and the disk allow.
void BM_CatThroughPipe(benchmark::State& state) {
  const std::string block = Block(64 << 10, 100);
  for (auto _ : state) {
    const std::string dir = MakeDir();
    FILE* cat = popen(("cat > " + dir + "/out").c_str(), "w");
    for (int64_t done = 0; done < kTotal; done += static_cast<int64_t>(block.size())) {
      fwrite(block.data(), 1, block.size(), cat);
    }
    pclose(cat);
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kTotal);
}

BENCHMARK(BM_CatThroughPipe)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Pipeline_64KiBWrites_1KiBLines)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Pipeline_64KiBWrites_100ByteLines)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Pipeline_64KiBWrites_100ByteLines_3Secrets)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_Pipeline_OneWritePer100ByteLine)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace automate::internal

BENCHMARK_MAIN();
