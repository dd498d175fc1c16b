// A real engine on a temporary state dir: SQLite on disk, file logs, the
// local process executor. Jobs are real processes.
#ifndef AUTOMATE_TESTS_ENGINE_ENGINE_FIXTURE_H_
#define AUTOMATE_TESTS_ENGINE_ENGINE_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "automate/automate.h"
#include "gtest/gtest.h"
#include "util/test_util.h"

namespace automate_testing {

// The whole stored log of `id`, data of all streams in order.
inline std::string ReadWholeLog(automate::Engine& engine, const std::string& id,
                                std::vector<automate::LogChunk>* chunks = nullptr) {
  auto reader = engine.OpenLog(id, 0, false);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return "";
  std::string data;
  std::vector<automate::LogChunk> batch;
  while (true) {
    batch.clear();
    auto n = (*reader)->Read(&batch, 1 << 20, absl::Now() + absl::Seconds(10));
    if (!n.ok()) break;
    for (auto& c : batch) {
      data += c.data;
      if (chunks != nullptr) chunks->push_back(c);
    }
  }
  return data;
}

// A client (non-dispatching) engine on `dir`: it stores what it is given,
// and nothing starts it.
inline absl::StatusOr<std::unique_ptr<automate::Engine>> OpenClient(const std::string& dir) {
  absl::StatusOr<automate::EngineOptions> options = automate::DefaultEngineOptions(dir);
  if (!options.ok()) return options.status();
  options->dispatch = false;
  return automate::Engine::Open(std::move(*options));
}

// Submits `job` through OpenClient(dir): stored, pending, not started.
inline absl::StatusOr<std::string> SubmitWithoutStarting(const std::string& dir,
                                                         const std::string& job) {
  absl::StatusOr<std::unique_ptr<automate::Engine>> client = OpenClient(dir);
  if (!client.ok()) return client.status();
  automate::SubmitRequest request;
  request.job = job;
  absl::StatusOr<automate::v1::Execution> exec = (*client)->Submit(request);
  if (!exec.ok()) return exec.status();
  return exec->id();
}

// The state dir's store, opened beside (not through) an engine: what a
// previous engine left, as a test wants it.
inline std::unique_ptr<automate::Store> OpenStore(const std::string& dir) {
  automate::SqliteStoreOptions store_options;
  store_options.path = dir + "/automate.db";
  auto store = automate::OpenSqliteStore(store_options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

class EngineTest : public ::testing::Test {
 protected:
  // Opens (or reopens) the engine on dir_.
  void OpenEngine(int max_running = 16, absl::Duration grace = absl::Seconds(2)) {
    engine_.reset();
    auto options = automate::DefaultEngineOptions(dir_.path());
    ASSERT_TRUE(options.ok()) << options.status();
    options->max_running = max_running;
    options->cancel_grace = grace;
    auto engine = automate::Engine::Open(std::move(*options));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void SetUp() override { OpenEngine(); }

  // Applies a job written as YAML.
  void Apply(const std::string& yaml) {
    auto specs = automate::ParseJobFile(yaml, "test.yaml");
    ASSERT_TRUE(specs.ok()) << specs.status();
    for (const auto& spec : *specs) {
      auto job = engine_->ApplyJob(spec);
      ASSERT_TRUE(job.ok()) << job.status();
    }
  }

  automate::v1::Execution RunAndWait(const std::string& job,
                                     std::map<std::string, std::string> args = {}) {
    automate::SubmitRequest request;
    request.job = job;
    request.args = std::move(args);
    auto exec = engine_->Submit(request);
    EXPECT_TRUE(exec.ok()) << exec.status();
    if (!exec.ok()) return {};
    auto done = engine_->Wait(exec->id(), absl::Now() + absl::Seconds(300));
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : automate::v1::Execution();
  }

  std::string ReadLog(const std::string& id, std::vector<automate::LogChunk>* chunks = nullptr) {
    return ReadWholeLog(*engine_, id, chunks);
  }

  TempDir dir_;
  std::unique_ptr<automate::Engine> engine_;
};

}  // namespace automate_testing

#endif  // AUTOMATE_TESTS_ENGINE_ENGINE_FIXTURE_H_
