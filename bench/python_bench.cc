// The C++ side of the Python bindings benchmark (bench/run_python_benchmarks.sh;
// the Python side is bench/python_bench.py, which does the same calls through
// `import automate`). One round, on a fresh state dir, with the engine set up
// as automate.Engine() sets it up (DefaultEngineOptions, poll_interval 20 ms,
// max_running 16):
//
//   submit_wait    N x (Submit a job ["true"], then Wait for it to be final)
//   get_job        M x GetJob("trivial")          (a store read; no process)
//   get_execution  M x GetExecution(id)           (a store read; no process)
//
// Prints one JSON object per op: {"side": "cpp", "op", "n", "seconds",
// "p50_us", "p90_us"}. submit_wait is timed per block of 10 calls, as the
// Python side times it (its percentiles are of blocks, per call); the reads
// per call.
//
// Usage: python_bench [--n 1000] [--m 20000] [--warmup 50] [--wait-slice-ms 0]
//   --wait-slice-ms S: Wait in slices of S ms, as the binding does (so that
//   Ctrl-C works); 0 (default): one Wait with an infinite deadline.
// State dirs go under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "automate/engine.h"
#include "automate/job.h"
#include "bench_util.h"

namespace {

using Clock = std::chrono::steady_clock;


[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "python_bench: %s\n", what.c_str());
  std::exit(1);
}

// `ns`: one time per sample of `calls_per_sample` calls.
void Report(const char* op, std::vector<int64_t> ns, int calls_per_sample = 1) {
  int64_t total = 0;
  for (int64_t v : ns) total += v;
  std::sort(ns.begin(), ns.end());
  const double per = calls_per_sample;
  std::printf(
      "{\"side\": \"cpp\", \"op\": \"%s\", \"n\": %zu, \"seconds\": %.6f, \"p50_us\": %.3f, "
      "\"p90_us\": %.3f}\n",
      op, ns.size() * static_cast<size_t>(calls_per_sample), static_cast<double>(total) / 1e9,
      static_cast<double>(ns[ns.size() / 2]) / 1e3 / per,
      static_cast<double>(ns[ns.size() * 9 / 10]) / 1e3 / per);
  std::fflush(stdout);
}

template <typename F>
std::vector<int64_t> Time(int n, F&& f) {
  std::vector<int64_t> ns;
  ns.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Clock::time_point t0 = Clock::now();
    f();
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, m = 20000, warmup = 50, slice_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--n") == 0) n = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--m") == 0) m = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--warmup") == 0) warmup = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--wait-slice-ms") == 0) slice_ms = std::atoi(argv[i + 1]);
    else Die(std::string("unknown argument ") + argv[i]);
  }
  if (n < 1 || m < 1 || warmup < 0) Die("--n and --m must be >= 1, --warmup >= 0");
  const std::string dir = automate_bench::MakeBenchDir("python_bench_cpp");
  {
    auto options = automate::DefaultEngineOptions(dir);
    if (!options.ok()) Die(std::string(options.status().message()));
    options->poll_interval = absl::Milliseconds(20);  // As automate.Engine().
    options->max_running = 16;
    auto engine = automate::Engine::Open(std::move(*options));
    if (!engine.ok()) Die(std::string(engine.status().message()));
    auto specs = automate::ParseJobFile(
        R"({"name": "trivial", "executor": {"local": {"command": ["true"]}}})", "<bench>");
    if (!specs.ok()) Die(std::string(specs.status().message()));
    if (auto job = (*engine)->ApplyJob((*specs)[0]); !job.ok()) Die(std::string(job.status().message()));

    automate::SubmitRequest request;
    request.job = "trivial";
    const char* user = std::getenv("USER");
    request.requested_by = user != nullptr ? user : "";
    std::string last_id;
    auto submit_wait = [&] {
      auto exec = (*engine)->Submit(request);
      if (!exec.ok()) Die(std::string(exec.status().message()));
      absl::StatusOr<automate::v1::Execution> done;
      if (slice_ms <= 0) {
        done = (*engine)->Wait(exec->id(), absl::InfiniteFuture());
      } else {  // As the binding waits: in slices (--wait-slice-ms).
        do {
          done = (*engine)->Wait(exec->id(), absl::Now() + absl::Milliseconds(slice_ms));
        } while (!done.ok() && done.status().code() == absl::StatusCode::kDeadlineExceeded);
      }
      if (!done.ok() || done->state() != automate::v1::SUCCEEDED) Die("a run did not succeed");
      last_id = exec->id();
    };
    auto submit_wait_10 = [&] {
      for (int i = 0; i < 10; ++i) submit_wait();
    };
    Time(warmup, submit_wait);
    Report("submit_wait", Time(std::max(1, n / 10), submit_wait_10), 10);
    Report("get_job", Time(m, [&] {
             if (!(*engine)->GetJob("trivial", 0).ok()) Die("GetJob");
           }));
    Report("get_execution", Time(m, [&] {
             if (!(*engine)->GetExecution(last_id).ok()) Die("GetExecution");
           }));
    (*engine)->Shutdown();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
