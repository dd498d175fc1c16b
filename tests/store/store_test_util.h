// Helpers for the SQLite store tests: options in a temp dir, sample records.
#ifndef AUTOMATE_TESTS_STORE_STORE_TEST_UTIL_H_
#define AUTOMATE_TESTS_STORE_STORE_TEST_UTIL_H_

#include <memory>
#include <string>

#include "automate/execution.h"
#include "automate/store.h"
#include "store/sqlite_store.h"
#include "util/test_util.h"

namespace automate_testing {

// A fixed, arbitrary base time (2026-01-01) so tests never read the clock.
inline absl::Time BaseTime() { return absl::FromUnixSeconds(1767225600); }

inline automate::SqliteStoreOptions StoreOptions(const TempDir& dir) {
  automate::SqliteStoreOptions options;
  options.path = dir.Join("data/automate.db");  // "data/" checks directory creation.
  return options;
}

inline std::unique_ptr<automate::internal::SqliteStore> OpenStoreOrDie(
    const automate::SqliteStoreOptions& options) {
  auto store = automate::internal::SqliteStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(store).value() : nullptr;
}

inline automate::v1::JobSpec SampleSpec(const std::string& name, const std::string& arg = "hi") {
  automate::v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_executor()->mutable_local()->add_command("echo");
  spec.mutable_executor()->mutable_local()->add_command(arg);
  (*spec.mutable_labels())["team"] = "infra";
  (*spec.mutable_labels())["tier"] = "2";
  return spec;
}

// A new execution (version 0) of `job`, created at `t`.
inline automate::v1::Execution SampleExecution(
    const std::string& job, absl::Time t,
    automate::v1::ExecutionState state = automate::v1::PENDING) {
  automate::v1::Execution e;
  e.set_id(automate::NewExecutionId(t));
  e.set_job(job);
  e.set_job_version(1);
  e.set_state(state);
  *e.mutable_create_time() = automate::internal::ToTimestamp(t);
  *e.mutable_update_time() = automate::internal::ToTimestamp(t);
  (*e.mutable_args())["who"] = "world";
  return e;
}

}  // namespace automate_testing

#endif  // AUTOMATE_TESTS_STORE_STORE_TEST_UTIL_H_
