// Server: HTTP/1.1 (optionally TLS) on Boost.Beast with C++20 coroutines.
//
// One coroutine per connection on a strand of the I/O context, so idle
// connections and log followers hold no thread. Handlers that touch the
// engine run on a separate blocking pool. SIGTERM/SIGINT: stop accepting,
// let in-flight requests finish (up to `drain`), end log streams, return.
#ifndef AUTOMATED_SERVER_H_
#define AUTOMATED_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api.h"
#include "log_hub.h"

namespace automated {

struct ServerOptions {
  std::string listen = "127.0.0.1:8420";  // HOST:PORT; port 0 picks one
  std::string tls_cert;                   // PEM files; both or neither
  std::string tls_key;
  int io_threads = 2;
  int blocking_threads = 8;  // Reads: GET requests and log streams.
  // Changes (POST, PUT, DELETE), which wait for a durable commit: the more
  // wait at once, the more share one commit.
  int commit_threads = 32;
  uint64_t max_body_bytes = 1 << 20;
  uint32_t max_header_bytes = 16 << 10;
  absl::Duration read_timeout = absl::Seconds(30);  // a whole request, once it starts
  absl::Duration idle_timeout = absl::Seconds(120);  // keep-alive between requests
  absl::Duration drain = absl::Seconds(10);          // at shutdown
};

class Server {
 public:
  Server(ServerOptions options, Api* api, automate::Engine* engine, Metrics* metrics);
  ~Server();
  // Binds and listens; then `address()` is "http(s)://host:port".
  absl::Status Bind();
  std::string address() const;
  // Serves until SIGTERM/SIGINT (or Stop()); returns once drained.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace automated

#endif  // AUTOMATED_SERVER_H_
