// A client of the `automated` daemon: an Engine whose methods are calls to its
// HTTP API (docs/api.md), so that code written against Engine (the CLI, other
// services) works the same against a local state dir and a remote server.
//
// Example:
//   automate::RemoteOptions options;
//   options.server = "https://automate.example.com:8443";
//   options.token = std::getenv("AUTOMATE_TOKEN");
//   AUTOMATE_ASSIGN_OR_RETURN(auto engine, automate::OpenRemoteEngine(std::move(options)));
//   auto jobs = engine->ListJobs();
//
// Thread-safety: the returned Engine is thread-safe, like every Engine.
#ifndef AUTOMATE_CLIENT_H_
#define AUTOMATE_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "automate/engine.h"
#include "automate/export.h"

namespace automate {

// The HTTP API version this client speaks (sent as Automate-Client-Api-Version).
inline constexpr int kClientApiVersion = 2;

struct RemoteOptions {
  // "http://host:port" or "https://host:port", optionally with a path prefix
  // ("https://example.com/automate") when the daemon sits behind a proxy.
  std::string server;
  // Bearer token (`automated token create`). Empty: only public routes work.
  // Never written to any error message or log.
  std::string token;
  // Per request (connect and answer). Long polls add their wait to it; a log
  // follower gives up reconnecting after this long without the server.
  absl::Duration timeout = absl::Seconds(30);
  // PEM bundle of the CAs to trust for https; empty: the system's.
  std::string ca_file;
};

// An Engine that talks to automated over its HTTP API: the same methods with
// the same error codes (the server's Error.code becomes the absl::StatusCode
// and its message is kept verbatim). The first call checks the server's
// version (GET /ping and the Automate-Api-Version header); an incompatible
// pair fails that call, and every later one, with kFailedPrecondition naming
// both versions. Differences from a local engine:
// - Submit: the server records who asked (the token's name) and the trigger;
//   `requested_by` and `trigger` of the request are not sent.
// - ListExecutions: `oldest_first` is kInvalidArgument (the API lists newest
//   first); `cancel_requested_only` filters each page on the client, so a
//   page may hold fewer than `limit` executions.
// - ActiveCount() is 0: nothing runs in this process. Shutdown() does nothing.
// - OpenLog with follow reconnects by itself after a dropped connection and
//   resumes at the byte where it stopped; it fails with kUnavailable once the
//   server has been unreachable for `timeout`.
// kInvalidArgument if `server` is not an http(s) URL. Nothing is sent yet.
AUTOMATE_EXPORT absl::StatusOr<std::unique_ptr<Engine>> OpenRemoteEngine(RemoteOptions options);

}  // namespace automate

#endif  // AUTOMATE_CLIENT_H_
