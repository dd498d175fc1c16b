// The docker executor: runs each attempt as a container through the Docker
// Engine API (version 1.41 or later; Docker itself or Podman's compatible
// service), over a unix socket or TCP with TLS.
//
// Each container is named automate-<execution id>-<attempt> and labelled
// automate.execution, automate.job, automate.attempt and automate.engine (the
// engine tag), so a restarted engine finds and reattaches to its containers,
// and removes the ones no execution owns any more. Output is read with
// timestamps, so a reattached observer resumes after the last stored line.
//
// Thread-safety: thread-safe.
#ifndef AUTOMATE_DOCKER_EXECUTOR_H_
#define AUTOMATE_DOCKER_EXECUTOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "automate/executor.h"
#include "automate/export.h"

namespace automate {

struct DockerExecutorOptions {
  // "unix:///var/run/docker.sock" or "tcp://host:port". Empty: $DOCKER_HOST,
  // else unix:///var/run/docker.sock.
  std::string host;
  // TLS for tcp:// hosts, as the docker CLI does it: with tls_verify (or
  // $DOCKER_TLS_VERIFY set), https, verifying the daemon with
  // cert_path/ca.pem and presenting cert_path/cert.pem and key.pem.
  // cert_path empty: $DOCKER_CERT_PATH, else ~/.docker.
  bool tls_verify = false;
  std::string cert_path;
  // The API version requested, MAJOR.MINOR, at least 1.41; empty:
  // $DOCKER_API_VERSION, else 1.41.
  std::string api_version;
  // Written as the label automate.engine on every container; CleanupOrphans()
  // only removes containers with this engine's tag. Empty: "default".
  std::string engine_tag;
  // Limit for calls that do not wait on the container (create, start, ...).
  absl::Duration request_timeout = absl::Seconds(60);
};

// The options with unset fields taken from DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH and DOCKER_API_VERSION.
AUTOMATE_EXPORT DockerExecutorOptions DockerOptionsFromEnvironment(DockerExecutorOptions options);

// kInvalidArgument for a host that is neither unix:// nor tcp://, or an
// api_version that is not MAJOR.MINOR at least 1.41. The daemon is not
// contacted here: an unreachable one fails the attempts that need it
// (kUnavailable, so retries help).
AUTOMATE_EXPORT absl::StatusOr<std::unique_ptr<Executor>> MakeDockerExecutor(
    DockerExecutorOptions options);

// A kInvalidArgument from MakeDockerExecutor or DefaultEngineOptions about the
// host or the API version, with the front-end's name for that setting in
// front ("--docker-host: docker host ...", "DOCKER_API_VERSION: ...");
// any other status unchanged.
AUTOMATE_EXPORT absl::Status NameDockerSetting(const absl::Status& status,
                                               absl::string_view host_setting,
                                               absl::string_view api_version_setting);

}  // namespace automate

#endif  // AUTOMATE_DOCKER_EXECUTOR_H_
