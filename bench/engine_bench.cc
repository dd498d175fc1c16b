// Whole-engine benchmarks: a real engine on a temporary state dir (SQLite with
// synchronous=FULL, file logs, the local process executor), each beside the
// physical limit of this machine measured in the same binary and run.
//
// BM_EngineTrivialJobs/<max_running>/<submitters>/<batch>: N executions of
//   `true` submitted from <submitters> threads, with one Submit() call each
//   (batch 1) or SubmitBatch() calls of <batch> requests, all waited for;
//   items/s = jobs/s. cpu_<thread>_us: CPU per job of each kind of engine
//   thread, and of the submitting threads.
// BM_RawSpawn/like_engine:<0|1>: posix_spawn("/bin/true") + waitpid in a loop
//   per thread (1, 2 and 4 threads); 1: with the local executor's spawn
//   attributes and pipes. items/s = the spawn limit the engine is held to.
// Both report self_cpu_us and child_cpu_us: CPU time per job of this process
//   (every thread) and of the reaped children. The engine's own cost per job
//   is its self_cpu_us minus the raw loop's (which only spawns and reaps).
// BM_SubmitToStart: one execution at a time on an idle engine. Counters, in
//   microseconds: submit_p50/p99 (the Submit() call, durable), start_p50/p99
//   (submit call start -> the attempt start_time the engine records once the
//   process is spawned), output_p50/p99 (submit call start -> the job's first
//   stdout byte delivered to an in-process follower).
// BM_EngineLog/<kind>/<MiB>: one job writing <MiB> MiB, kind 0: 64 KiB writes
//   of zeros (dd bs=64k), kind 1: 100-byte lines (yes | head -c, several KiB
//   per write), kind 2: 100-byte lines, one write() each, stored and
//   followed live by one in-process follower; bytes/s counted as what the
//   follower received.
// BM_PipeBaseline/<kind>/<MiB>/<to_file>: the same producer command with its
//   stdout piped into this process (read in 64 KiB reads), optionally written
//   to a file under the state dir: the physical limit of pipe (+ disk).
//
// State dirs live under $AUTOMATE_BENCH_DIR, else $TMPDIR, else /var/tmp:
// point it at a real disk (not tmpfs) for meaningful fsync numbers.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "automate/engine.h"
#include "automate/log.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"

extern char** environ;

namespace {

using automate_bench::StateDir;


std::unique_ptr<automate::Engine> OpenEngine(const StateDir& dir, int max_running) {
  auto options = automate::DefaultEngineOptions(dir.path());
  if (!options.ok()) {
    std::fprintf(stderr, "DefaultEngineOptions: %s\n", options.status().ToString().c_str());
    return nullptr;
  }
  options->max_running = max_running;
  if (const char* us = std::getenv("AUTOMATE_BENCH_WRITE_INTERVAL_US"); us != nullptr) {
    options->write_interval = absl::Microseconds(std::atoi(us));
  }
  auto engine = automate::Engine::Open(std::move(*options));
  if (!engine.ok()) {
    std::fprintf(stderr, "Engine::Open: %s\n", engine.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*engine);
}

bool ApplyJob(automate::Engine* engine, const std::string& name,
              const std::vector<std::string>& command, int64_t log_limit = 0) {
  automate::v1::JobSpec spec;
  spec.set_name(name);
  for (const auto& arg : command) spec.mutable_executor()->mutable_local()->add_command(arg);
  if (log_limit > 0) spec.mutable_log_limit()->set_bytes(log_limit);
  auto job = engine->ApplyJob(spec);
  if (!job.ok()) std::fprintf(stderr, "ApplyJob: %s\n", job.status().ToString().c_str());
  return job.ok();
}

automate::SubmitRequest Request(const std::string& job) {
  automate::SubmitRequest request;
  request.job = job;
  return request;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// CPU time used so far by this process (all threads) and by its reaped
// children, in microseconds.
struct CpuTimes {
  double self_us = 0;
  double children_us = 0;
};

double RusageMicros(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto us = [](const timeval& tv) { return tv.tv_sec * 1e6 + static_cast<double>(tv.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

CpuTimes CpuNow() { return {RusageMicros(RUSAGE_SELF), RusageMicros(RUSAGE_CHILDREN)}; }

// Counters self_cpu_us and child_cpu_us: CPU per item since `begin`, of this
// process and of its children. What the engine adds per job is its
// self_cpu_us minus BM_RawSpawn's.
void SetCpuCounters(benchmark::State& state, const CpuTimes& begin, double items) {
  CpuTimes end = CpuNow();
  if (items <= 0) return;
  state.counters["self_cpu_us"] = (end.self_us - begin.self_us) / items;
  state.counters["child_cpu_us"] = (end.children_us - begin.children_us) / items;
}

// CPU time of this process's live threads, in microseconds, summed by thread
// name (the engine names its threads automate-start, automate-write, ...).
std::map<std::string, double> ThreadCpuByName() {
  std::map<std::string, double> by_name;
  const double tick_us = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::ifstream comm_file(task.path() / "comm");
    std::string comm;
    std::getline(comm_file, comm);
    std::ifstream stat_file(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    if (comm.empty() || paren == std::string::npos) continue;
    // After "pid (comm) ": state is field 3; utime and stime are 14 and 15.
    std::istringstream fields(stat.substr(paren + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    by_name[comm] += (utime + stime) * tick_us;
  }
  return by_name;
}

// Counters cpu_<thread name>_us: CPU per item of the engine's threads
// (alive from `begin` to now), and cpu_submitters_us, measured by the
// submitting threads themselves (RUSAGE_THREAD) before they exit. (The
// caller adds cpu_waiter_us: the thread that calls Wait() for every job.)
void SetThreadCpuCounters(benchmark::State& state, const std::map<std::string, double>& begin,
                          double submitters_us, double items) {
  if (items <= 0) return;
  for (const auto& [name, us] : ThreadCpuByName()) {
    if (name.rfind("automate-", 0) != 0) continue;
    auto it = begin.find(name);
    double delta = us - (it == begin.end() ? 0 : it->second);
    state.counters["cpu_" + name.substr(9) + "_us"] = delta / items;
  }
  state.counters["cpu_submitters_us"] = submitters_us / items;
}

// --- Trivial jobs ---------------------------------------------------------

constexpr int kTrivialJobs = 2000;

void BM_EngineTrivialJobs(benchmark::State& state) {
  const int max_running = static_cast<int>(state.range(0));
  const int submitters = static_cast<int>(state.range(1));
  const int batch = static_cast<int>(state.range(2));
  StateDir dir("engine_bench");
  auto engine = OpenEngine(dir, max_running);
  if (engine == nullptr || !ApplyJob(engine.get(), "noop", {"true"})) {
    state.SkipWithError("engine setup failed");
    return;
  }
  int64_t failed = 0;
  double submit_seconds = 0;
  std::atomic<int64_t> submitters_us{0};
  double waiter_us = 0;  // This thread, in the Wait() calls.
  CpuTimes cpu_begin = CpuNow();
  std::map<std::string, double> threads_begin = ThreadCpuByName();
  for (auto _ : state) {
    absl::Time begin = absl::Now();
    std::vector<std::vector<std::string>> ids(submitters);
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        int n = kTrivialJobs / submitters + (t < kTrivialJobs % submitters ? 1 : 0);
        if (batch <= 1) {
          for (int i = 0; i < n; ++i) {
            auto exec = engine->Submit(Request("noop"));
            if (!exec.ok()) {
              errors++;
              continue;
            }
            ids[t].push_back(exec->id());
          }
        }
        for (int i = 0; batch > 1 && i < n; i += batch) {
          std::vector<automate::SubmitRequest> requests(std::min(batch, n - i), Request("noop"));
          auto execs = engine->SubmitBatch(requests);
          if (!execs.ok()) {
            errors++;
            continue;
          }
          for (const auto& exec : *execs) ids[t].push_back(exec.id());
        }
        submitters_us += static_cast<int64_t>(RusageMicros(RUSAGE_THREAD));
      });
    }
    for (auto& th : threads) th.join();
    submit_seconds += absl::ToDoubleSeconds(absl::Now() - begin);
    double wait_begin_us = RusageMicros(RUSAGE_THREAD);
    for (auto& list : ids) {
      for (const auto& id : list) {
        auto done = engine->Wait(id, absl::Now() + absl::Seconds(120));
        if (!done.ok() || done->state() != automate::v1::SUCCEEDED) failed++;
      }
    }
    waiter_us += RusageMicros(RUSAGE_THREAD) - wait_begin_us;
    if (errors > 0) {
      state.SkipWithError("submit failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kTrivialJobs);
  state.counters["failed"] = static_cast<double>(failed);
  // How long the submitters took to have every execution durable.
  state.counters["submit_phase_s"] = submit_seconds / static_cast<double>(state.iterations());
  SetCpuCounters(state, cpu_begin, static_cast<double>(state.iterations() * kTrivialJobs));
  SetThreadCpuCounters(state, threads_begin, static_cast<double>(submitters_us.load()),
                       static_cast<double>(state.iterations() * kTrivialJobs));
  state.counters["cpu_waiter_us"] = waiter_us / static_cast<double>(state.iterations() * kTrivialJobs);
  engine->Shutdown();
}
BENCHMARK(BM_EngineTrivialJobs)
    ->ArgNames({"max_running", "submitters", "batch"})
    ->Args({2, 2, 1})
    ->Args({4, 2, 1})
    ->Args({16, 2, 1})
    ->Args({64, 2, 1})
    ->Args({64, 4, 1})
    ->Args({256, 4, 1})
    ->Args({64, 16, 1})
    ->Args({4, 1, 100})
    ->Args({16, 1, 100})
    ->Args({64, 1, 100})
    ->Args({16, 1, 1000})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- Raw spawn --------------------------------------------------------------

// like_engine 0: plain posix_spawn. 1: with what the local executor asks for
// (stdin /dev/null, stdout and stderr pipes, closefrom(3), a new process
// group, all signals to default, an empty mask), pipes read to EOF.
void BM_RawSpawn(benchmark::State& state) {
  const bool like_engine = state.range(0) != 0;
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (like_engine) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
  }
  CpuTimes cpu_begin;
  if (state.thread_index() == 0) cpu_begin = CpuNow();
  for (auto _ : state) {
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (like_engine) {
      if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
      posix_spawn_file_actions_adddup2(&actions, err[1], 2);
      posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    if (like_engine) {
      close(out[1]);
      close(err[1]);
      char buf[256];
      while (read(out[0], buf, sizeof(buf)) > 0) {
      }
      while (read(err[0], buf, sizeof(buf)) > 0) {
      }
      close(out[0]);
      close(err[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
    }
  }
  posix_spawnattr_destroy(&attr);
  state.SetItemsProcessed(state.iterations());
  // Thread 0 measures the whole process while all threads run about as long.
  if (state.thread_index() == 0) {
    SetCpuCounters(state, cpu_begin,
                   static_cast<double>(state.iterations()) * state.threads());
  }
}
BENCHMARK(BM_RawSpawn)
    ->ArgName("like_engine")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

// --- Submit -> start latency ------------------------------------------------

constexpr int kLatencySamples = 200;

void BM_SubmitToStart(benchmark::State& state) {
  StateDir dir("engine_bench");
  auto engine = OpenEngine(dir, 16);
  if (engine == nullptr || !ApplyJob(engine.get(), "echo", {"echo", "x"})) {
    state.SkipWithError("engine setup failed");
    return;
  }
  std::vector<double> submit_us, start_us, output_us;
  for (auto _ : state) {
    for (int i = 0; i < kLatencySamples; ++i) {
      absl::Time t0 = absl::Now();
      auto exec = engine->Submit(Request("echo"));
      absl::Time t1 = absl::Now();
      if (!exec.ok()) {
        state.SkipWithError("submit failed");
        return;
      }
      auto reader = engine->OpenLog(exec->id(), 0, true);
      if (!reader.ok()) {
        state.SkipWithError("open log failed");
        return;
      }
      absl::Time first_output = absl::InfinitePast();
      std::vector<automate::LogChunk> chunks;
      while (first_output == absl::InfinitePast()) {
        chunks.clear();
        auto n = (*reader)->Read(&chunks, 1 << 16, absl::Now() + absl::Seconds(10));
        if (!n.ok()) break;
        for (const auto& c : chunks) {
          if (c.stream == automate::v1::STDOUT) {
            first_output = absl::Now();
            break;
          }
        }
      }
      auto done = engine->Wait(exec->id(), absl::Now() + absl::Seconds(30));
      if (!done.ok() || done->attempts_size() == 0 || first_output == absl::InfinitePast()) {
        state.SkipWithError("execution did not run");
        return;
      }
      absl::Time started = absl::FromUnixNanos(done->attempts(0).start_time().seconds() * 1000000000 +
                                               done->attempts(0).start_time().nanos());
      submit_us.push_back(absl::ToDoubleMicroseconds(t1 - t0));
      start_us.push_back(absl::ToDoubleMicroseconds(started - t0));
      output_us.push_back(absl::ToDoubleMicroseconds(first_output - t0));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(submit_us.size()));
  state.counters["submit_p50_us"] = Percentile(submit_us, 0.50);
  state.counters["submit_p99_us"] = Percentile(submit_us, 0.99);
  state.counters["start_p50_us"] = Percentile(start_us, 0.50);
  state.counters["start_p99_us"] = Percentile(start_us, 0.99);
  state.counters["output_p50_us"] = Percentile(output_us, 0.50);
  state.counters["output_p99_us"] = Percentile(output_us, 0.99);
  engine->Shutdown();
}
BENCHMARK(BM_SubmitToStart)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// --- Log throughput ---------------------------------------------------------

std::string g_self;  // This binary: the producer of kind 2.

// The producer: kind 0 writes zeros in 64 KiB writes, kind 1 100-byte lines
// (yes | head -c: several KiB per write), kind 2 100-byte lines with one
// write() per line (as an unbuffered or line-buffered program does).
std::vector<std::string> Producer(int kind, int64_t mib) {
  if (kind == 2) return {g_self, "--write-lines", std::to_string(mib << 20)};
  if (kind == 0) {
    return {"dd", "if=/dev/zero", "bs=64k", "count=" + std::to_string(mib * 16), "status=none"};
  }
  std::string line(99, 'x');
  return {"sh", "-c", "yes " + line + " | head -c " + std::to_string(mib << 20)};
}

void BM_EngineLog(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const int64_t mib = state.range(1);
  const int64_t total = mib << 20;
  StateDir dir("engine_bench");
  auto engine = OpenEngine(dir, 16);
  if (engine == nullptr || !ApplyJob(engine.get(), "writer", Producer(kind, mib), total * 2)) {
    state.SkipWithError("engine setup failed");
    return;
  }
  int64_t received = 0;
  int64_t chunks_received = 0;
  for (auto _ : state) {
    auto exec = engine->Submit(Request("writer"));
    if (!exec.ok()) {
      state.SkipWithError("submit failed");
      return;
    }
    auto reader = engine->OpenLog(exec->id(), 0, true);
    if (!reader.ok()) {
      state.SkipWithError("open log failed");
      return;
    }
    std::vector<automate::LogChunk> chunks;
    int64_t got = 0;
    while (true) {
      chunks.clear();
      auto n = (*reader)->Read(&chunks, 1 << 20, absl::Now() + absl::Seconds(60));
      if (!n.ok()) break;
      for (const auto& c : chunks) {
        if (c.stream == automate::v1::STDOUT) got += static_cast<int64_t>(c.data.size());
      }
      chunks_received += static_cast<int64_t>(chunks.size());
    }
    auto done = engine->Wait(exec->id(), absl::Now() + absl::Seconds(120));
    if (!done.ok() || done->state() != automate::v1::SUCCEEDED || got != total) {
      std::fprintf(stderr, "writer: got %lld of %lld bytes, state %s\n",
                   static_cast<long long>(got), static_cast<long long>(total),
                   done.ok() ? automate::v1::ExecutionState_Name(done->state()).c_str()
                             : done.status().ToString().c_str());
      state.SkipWithError("writer did not deliver everything");
      return;
    }
    received += got;
  }
  state.SetBytesProcessed(received);
  state.counters["chunks"] = static_cast<double>(chunks_received);
  engine->Shutdown();
}
BENCHMARK(BM_EngineLog)
    ->ArgNames({"lines", "MiB"})
    ->Args({0, 1024})
    ->Args({1, 256})
    ->Args({2, 256})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_PipeBaseline(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const int64_t mib = state.range(1);
  const bool to_file = state.range(2) != 0;
  StateDir dir("engine_bench");
  // producer | cat, with cat's stdout a pipe read by this process.
  std::vector<std::string> producer = Producer(kind, mib);
  std::string script;
  for (const auto& a : producer) script += "'" + a + "' ";
  script += "| cat";
  std::vector<char> buf(64 << 10);
  int64_t received = 0;
  for (auto _ : state) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::string sh = "/bin/sh", dash_c = "-c";
    char* argv[] = {sh.data(), dash_c.data(), script.data(), nullptr};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ) != 0) std::abort();
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    int out = to_file ? open((dir.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    int64_t got = 0;
    while (true) {
      ssize_t n = read(fds[0], buf.data(), buf.size());
      if (n <= 0) break;
      got += n;
      if (out >= 0 && write(out, buf.data(), static_cast<size_t>(n)) != n) std::abort();
    }
    close(fds[0]);
    if (out >= 0) {
      fsync(out);  // the engine syncs a log when its execution ends
      close(out);
    }
    int status;
    waitpid(pid, &status, 0);
    received += got;
  }
  state.SetBytesProcessed(received);
}
BENCHMARK(BM_PipeBaseline)
    ->ArgNames({"lines", "MiB", "to_file"})
    ->Args({0, 1024, 0})
    ->Args({0, 1024, 1})
    ->Args({1, 256, 0})
    ->Args({1, 256, 1})
    ->Args({2, 256, 0})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// `engine_bench --write-lines BYTES`: writes BYTES of 100-byte lines to
// stdout, one write() per line.
int WriteLines(int64_t total) {
  std::string line(99, 'y');
  line += '\n';
  for (int64_t done = 0; done < total; done += 100) {
    size_t n = static_cast<size_t>(std::min<int64_t>(100, total - done));
    if (write(1, line.data(), n) != static_cast<ssize_t>(n)) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-lines") return WriteLines(std::atoll(argv[2]));
  std::error_code ec;
  g_self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
