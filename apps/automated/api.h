// Api: the routes of docs/api.md as blocking handlers over the Engine.
//
// The server (server.h) parses HTTP on its I/O threads and calls Handle() on
// its blocking pool: handlers may wait on the store. Log streaming is the
// exception: Handle() only checks the request and returns a LogPlan, and
// the server streams it without holding a thread (log_hub.h).
#ifndef AUTOMATED_API_H_
#define AUTOMATED_API_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "auth.h"
#include "automate/engine.h"
#include "boost/beast/http.hpp"
#include "metrics.h"

namespace automated {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// 2: POST /v1/executions:batchSubmit.
inline constexpr int kApiVersion = 2;
inline constexpr int kMinClientApiVersion = 1;
inline constexpr char kServerVersion[] = "0.4.0";

// Who may call a route.
enum class Access { kPublic, kViewer, kOperator, kAdmin };

struct RouteInfo {
  const char* method;
  const char* pattern;  // "/v1/jobs/{name}"
  Access access;
};

// Every route the server serves (for `automated routes` and the OpenAPI test).
const std::vector<RouteInfo>& Routes();

// How to stream a log, once the request has been checked.
struct LogPlan {
  std::string id;
  int64_t offset = 0;
  bool follow = false;
  bool sse = false;
};

struct ApiResult {
  Response response;
  std::optional<LogPlan> log;  // Set: stream this instead of `response`.
  std::string route;           // Pattern matched, for metrics ("" = none).
};

class Api {
 public:
  // `store` is the engine's, read for JobsGeneration() only.
  Api(automate::Engine* engine, automate::Store* store, Auth* auth, Metrics* metrics);

  // Blocking. Never throws; every failure is an Error body.
  ApiResult Handle(const Request& request);
  // Routes that never block (no engine or store call: /ping, /metrics): the
  // server answers them on its I/O thread.
  static bool NeverBlocks(const Request& request);

  // The error response for `status` (used by the server for its own 4xx).
  static Response ErrorResponse(const absl::Status& status, unsigned version, bool keep_alive);
  static int HttpStatusFor(const absl::Status& status);

  struct Call;
  struct Route;
  static const std::vector<Route>& Table();

 private:
  ApiResult Dispatch(Call& call);
  Response Ping(Call& call);
  Response MetricsText(Call& call);
  Response ListJobs(Call& call);
  Response GetJob(Call& call);
  Response PutJob(Call& call);
  Response DeleteJob(Call& call);
  Response JobVersions(Call& call);
  Response Submit(Call& call);
  Response SubmitBatch(Call& call);
  absl::Status CheckRun(const Principal& who, const std::string& job, int64_t version);
  automate::SubmitRequest RunRequest(const Principal& who, const std::string& job,
                                     int64_t version,
                                     const google::protobuf::Map<std::string, std::string>& args,
                                     automate::v1::AuditEntry* audit);
  Response ListExecutions(Call& call);
  Response GetExecution(Call& call);
  Response CancelExecution(Call& call);
  absl::StatusOr<LogPlan> Logs(Call& call);
  Response History(Call& call);
  Response ListSecrets(Call& call);
  Response SetSecret(Call& call);
  Response DeleteSecret(Call& call);
  Response ListTokens(Call& call);
  Response CreateToken(Call& call);
  Response RevokeToken(Call& call);
  Response ListAudit(Call& call);
  void AuditChange(Call& call, absl::string_view action, absl::string_view target,
                   absl::string_view detail, int http_status);

  // The JSON of final executions, which never change again: the page and
  // scripts poll them, and reading and printing one costs far more than
  // copying it. Bounded, oldest dropped first.
  Response ExecutionJson(Call& call, const automate::v1::Execution& exec);
  std::optional<std::string> CachedFinal(const std::string& id);

  automate::Engine* engine_;
  automate::Store* store_;
  Auth* auth_;
  Metrics* metrics_;
  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, std::string> final_json_ ABSL_GUARDED_BY(cache_mu_);
  std::deque<std::string> final_order_ ABSL_GUARDED_BY(cache_mu_);
  static constexpr size_t kFinalCacheEntries = 10000;
  // The body of GET /v1/jobs and the store's JobsGeneration() it was made
  // at: answered again until a job changes (in any process).
  int64_t jobs_generation_ ABSL_GUARDED_BY(cache_mu_) = -1;
  std::string jobs_json_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace automated

#endif  // AUTOMATED_API_H_
