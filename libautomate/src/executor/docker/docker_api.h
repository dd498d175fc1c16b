// A client of the Docker Engine API (version 1.41 or later; Docker, or
// Podman's compatible service): the calls the docker executor makes, each
// turning the daemon's answer into a typed result or a Status.
//
// Errors: kUnavailable when the daemon cannot be reached or fails in a way a
// retry can help (5xx other than the ones below); kNotFound (no such image
// or container); kPermissionDenied (pull denied, 401/403); kFailedPrecondition
// (409 conflicts, a command the runtime cannot execute, TLS set-up);
// kInvalidArgument (400: the daemon refused the container's settings);
// kCancelled (the call was cancelled). Messages quote the daemon's own.
//
// Thread-safety: thread-safe.
#ifndef AUTOMATE_EXECUTOR_DOCKER_DOCKER_API_H_
#define AUTOMATE_EXECUTOR_DOCKER_DOCKER_API_H_

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "automate/docker_executor.h"
#include "net/http_transport.h"

namespace automate::internal {

// Labels on every container automate creates.
inline constexpr char kExecutionLabel[] = "automate.execution";
inline constexpr char kJobLabel[] = "automate.job";
inline constexpr char kAttemptLabel[] = "automate.attempt";
inline constexpr char kEngineLabel[] = "automate.engine";
inline constexpr char kKeepFailedLabel[] = "automate.keep-failed";

// Where the daemon is and how to talk to it, resolved from
// DockerExecutorOptions (DOCKER_HOST semantics).
absl::StatusOr<HttpTransportOptions> DockerTransportOptions(const DockerExecutorOptions& options);

// The oldest Docker Engine API the executor speaks.
inline constexpr char kMinApiVersion[] = "1.41";

// "1.41" < "1.43": compares major, then minor, as numbers; false when either
// is not MAJOR.MINOR.
bool VersionAtLeast(absl::string_view have, absl::string_view want);

struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;
  std::map<std::string, std::string> labels;
  std::string state;  // created, running, exited, ...
};

struct ContainerState {
  std::string id;
  std::string status;  // created, running, paused, restarting, removing, exited, dead
  bool running = false;
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;
  std::map<std::string, std::string> labels;
};

class DockerApi {
 public:
  explicit DockerApi(HttpTransportOptions transport, std::string api_version);

  // GET /version: the daemon's API version; kFailedPrecondition if older
  // than ours.
  absl::StatusOr<std::string> CheckVersion();
  // CheckVersion() until it has passed once for this client.
  absl::Status EnsureVersion() ABSL_LOCKS_EXCLUDED(version_mu_);

  // GET /images/{ref}/json: whether the image is present.
  absl::StatusOr<bool> ImageExists(absl::string_view image);

  // POST /images/create: pulls `image` (a tag of "latest" if it names none),
  // sending `registry_auth` (X-Registry-Auth, already encoded) when not
  // empty. `on_status` gets each status line that is not layer progress.
  absl::Status Pull(absl::string_view image, const std::string& registry_auth,
                    const std::function<void(absl::string_view)>& on_status, StreamCancel* cancel);

  // POST /containers/create?name=: the new container's id. `body` is the
  // JSON of the container's config; it may hold secrets and is never quoted
  // in errors.
  absl::StatusOr<std::string> Create(absl::string_view name, const std::string& body);
  // POST /containers/{id}/start; starting a running container is fine.
  absl::Status Start(absl::string_view id);
  // GET /containers/{id}/logs?stdout&stderr&timestamps&since: the log as it
  // is now, from `since_seconds` (whole seconds: every daemon takes those)
  // on; the multiplexed body goes to `on_data`. Not `follow`: Podman 4.3's
  // follow stream drops records (tests/docker/README.md).
  absl::Status Logs(absl::string_view id, int64_t since_seconds,
                    const std::function<bool(absl::string_view)>& on_data, StreamCancel* cancel);
  // GET /containers/{id}/json.
  absl::StatusOr<ContainerState> Inspect(absl::string_view id);
  // POST /containers/{id}/stop?t=: SIGTERM (or the image's stop signal), then
  // SIGKILL after `grace`; blocks until stopped. Not running: fine.
  absl::Status Stop(absl::string_view id, absl::Duration grace);
  // DELETE /containers/{id}?force=1&v=1. Already gone: fine.
  absl::Status Remove(absl::string_view id);
  // GET /containers/json?all=1&filters={"label":[label]}.
  absl::StatusOr<std::vector<ContainerSummary>> List(absl::string_view label,
                                                      absl::Duration timeout);

  const std::string& display_name() const { return transport_.display_name(); }

 private:
  std::string Path(absl::string_view path) const;
  // Sends `request`; the answer if its status is one of `expected`, else the
  // daemon's error (see Error()).
  absl::StatusOr<HttpResponse> Exchange(const HttpRequest& request, absl::string_view what,
                                        std::initializer_list<int> expected);
  // A non-2xx answer as a Status; `what` names the call ("create container").
  absl::Status Error(const HttpResponse& response, absl::string_view what) const;
  absl::Status Transport(const absl::Status& status, absl::string_view what) const;

  const absl::Duration timeout_;
  HttpTransport transport_;
  absl::Mutex version_mu_;
  bool version_checked_ ABSL_GUARDED_BY(version_mu_) = false;
  const std::string api_version_;  // "1.41": requests go to /v1.41/...
};

// The X-Registry-Auth value for pulling `image` with the credentials in
// `secret`: a JSON object ({"username","password"} or {"identitytoken"},
// sent as given) or "user:password". kInvalidArgument (naming no value) if
// it is neither.
absl::StatusOr<std::string> RegistryAuthHeader(absl::string_view image, absl::string_view secret);

// "registry.example.com:5000" for "registry.example.com:5000/a/b:1";
// "docker.io" when the reference names no registry.
std::string RegistryOf(absl::string_view image);

}  // namespace automate::internal

#endif  // AUTOMATE_EXECUTOR_DOCKER_DOCKER_API_H_
