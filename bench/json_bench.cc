// automate::MessageToJson (reflection, written directly) beside protobuf's
// own printer as MessageToJson used it before (deterministic binary, then
// util::BinaryToJsonString through a TypeResolver), on the bodies the API
// prints most: a finished Execution with its job spec, and a ListJobsResponse
// of 20 jobs. Both produce the same bytes (tests/util/json_test.cc).
#include <string>

#include "automate/json.h"
#include "automate/v1/api.pb.h"
#include "automate/v1/execution.pb.h"
#include "benchmark/benchmark.h"
#include "util/protobuf_json.h"

namespace {

namespace v1 = automate::v1;

v1::JobSpec Spec(int i) {
  v1::JobSpec spec;
  spec.set_name("db-backup-" + std::to_string(i));
  spec.set_description("Dump a database and keep it for some days");
  (*spec.mutable_labels())["team"] = "platform";
  (*spec.mutable_labels())["tier"] = "gold";
  auto* local = spec.mutable_executor()->mutable_local();
  for (const char* arg : {"/bin/sh", "-c", "pg_dump \"$DATABASE\" | gzip > \"/backups/$DATABASE.gz\""}) {
    local->add_command(arg);
  }
  local->set_working_dir("/tmp");
  (*local->mutable_env())["TZ"] = "UTC";
  auto* p = spec.add_params();
  p->set_name("DATABASE");
  p->set_description("database to dump");
  p->set_required(true);
  p->set_pattern("^[a-z_]+$");
  p = spec.add_params();
  p->set_name("RETENTION_DAYS");
  p->set_default_("7");
  spec.add_secrets("PGPASSWORD");
  spec.mutable_timeout()->set_seconds(1800);
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(10);
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(300);
  spec.mutable_concurrency()->set_limit(1);
  return spec;
}

v1::Execution FinishedExecution() {
  v1::Execution e;
  e.set_id("01JDZ7Q4T8V9K3M2N1P0R5S6T7");
  e.set_job("db-backup-0");
  e.set_job_version(4);
  *e.mutable_job_spec() = Spec(0);
  (*e.mutable_args())["DATABASE"] = "orders";
  (*e.mutable_args())["RETENTION_DAYS"] = "7";
  e.set_state(v1::SUCCEEDED);
  e.set_requested_by("alice");
  e.mutable_trigger()->set_kind(v1::Trigger::MANUAL);
  e.mutable_trigger()->set_source("api");
  for (auto* t : {e.mutable_create_time(), e.mutable_start_time(), e.mutable_end_time(),
                  e.mutable_update_time()}) {
    t->set_seconds(1796000000);
    t->set_nanos(123456000);
  }
  auto* a = e.add_attempts();
  a->set_number(1);
  a->set_executor("local");
  a->set_status(v1::Attempt::SUCCEEDED);
  a->set_exit_code(0);
  a->set_external_id("12345:987654");
  *a->mutable_start_time() = e.start_time();
  *a->mutable_end_time() = e.end_time();
  e.set_log_bytes(123456);
  return e;
}

v1::ListJobsResponse JobList() {
  v1::ListJobsResponse list;
  for (int i = 0; i < 20; ++i) {
    v1::Job* job = list.add_jobs();
    *job->mutable_spec() = Spec(i);
    job->set_version(i + 1);
  }
  return list;
}

template <typename Make>
void Run(benchmark::State& state, Make make, bool reference) {
  auto message = make();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string json = reference ? automate::internal::ProtobufJson(message) : *automate::MessageToJson(message);
    bytes += json.size();
    benchmark::DoNotOptimize(json);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}

void BM_ExecutionJson(benchmark::State& state) { Run(state, FinishedExecution, false); }
void BM_ExecutionJsonProtobuf(benchmark::State& state) { Run(state, FinishedExecution, true); }
void BM_JobListJson(benchmark::State& state) { Run(state, JobList, false); }
void BM_JobListJsonProtobuf(benchmark::State& state) { Run(state, JobList, true); }
BENCHMARK(BM_ExecutionJson);
BENCHMARK(BM_ExecutionJsonProtobuf);
BENCHMARK(BM_JobListJson);
BENCHMARK(BM_JobListJsonProtobuf);

}  // namespace

BENCHMARK_MAIN();
