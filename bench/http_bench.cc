// http_bench: HTTP-level benchmarks of automated and the physical limits
// beside them. Run by bench/run_http_benchmarks.sh; the figures are in
// bench/README.md, "automated (HTTP)". Subcommands (all print `RESULT <what>
// key=value ...` lines for the script):
//
//   hello --port P [--threads N] [--beast [--offload]]
//       A static HTTP/1.1 responder (keep-alive, pipelining): the limit beside
//       `GET /ping` under the same wrk. Default: raw epoll, one SO_REUSEPORT
//       listener and epoll per thread, no allocation per request. --beast:
//       Beast + C++20 coroutines served the way automated serves (io_context
//       on N threads, a strand per connection); --offload also hops each
//       request to a thread pool and back, as automated does for every API
//       call. The three separate the framework's and the hop's cost from the
//       daemon's own work.
//   submit-start --port P --token T --job J [--count N] [--dir D] [--hello-port H]
//       One POST /v1/jobs/J/executions at a time on an idle daemon; start =
//       attempts[0].startTime (GET /v1/executions/{id}?wait=) minus the
//       CLOCK_REALTIME just before the POST was sent. Beside it, the floor:
//       an HTTP round trip to `hello`, a 200-byte write + fdatasync in D, and
//       posix_spawn("/bin/true") (which returns once the child has exec'd).
//   gen --rate BYTES_PER_S --seconds S [--write B] [--start-file F] [--report F]
//       The SSE test's job: writes B-byte lines ('x'..., '\n') to stdout on a
//       fixed schedule, after F exists; writes its own achieved rate to the
//       report file.
//   sse --port P --token T --dir D --followers N --rate BYTES_PER_S --seconds S
//       Puts a job running `gen`, submits it, opens N followers
//       (GET /v1/executions/{id}/logs?follow=true) on one epoll thread, then
//       lets the job start. Per event: lag = receive time - the event's
//       `time`; per follower: bytes (decoded), offsets contiguous, the `end`
//       event's size; beside them the stored log (plain GET) and the job's
//       own write rate.
//   fanout --conns N [--seconds S] [--write B] [--rate BYTES_PER_S] [--threads T]
//       Physical limit of the fan-out: T sender threads (default 2, like
//       automated's I/O threads) writing to N loopback TCP sockets, one
//       receiver thread reading them all with epoll (as `sse` does). Without
//       --rate: aggregate and per-socket bytes/s, as fast as it goes; with
//       --rate: a B-byte message per socket every B/rate s, and its lag.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

extern char** environ;

namespace {

// ---- small helpers -----------------------------------------------------------

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "http_bench: %s%s%s\n", what.c_str(), errno ? ": " : "", errno ? std::strerror(errno) : "");
  std::exit(1);
}

int64_t RealNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// --key value flags.
struct Flags {
  std::map<std::string, std::string> kv;
  Flags(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0) Die("unexpected argument " + k);
      k = k.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        kv[k] = argv[++i];
      } else {
        kv[k] = "1";
      }
    }
  }
  std::string Str(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  double Num(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }
  bool Has(const std::string& k) const { return kv.count(k) > 0; }
};

// Percentile of a sorted vector (nearest rank).
template <typename T>
double Pct(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return NAN;
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::min(sorted.size() - 1, i == 0 ? 0 : i - 1)]);
}

// "2026-11-28T10:00:00.123456789Z" -> ns since the epoch; -1 if malformed.
int64_t ParseRfc3339Ns(std::string_view s) {
  auto num = [&](size_t pos, size_t len) -> int64_t {
    int64_t v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20) return -1;
  int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), se = num(17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0) return -1;
  int64_t frac = 0;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    int digits = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
      if (digits < 9) frac = frac * 10 + (s[pos] - '0');
    }
    for (; digits < 9; ++digits) frac *= 10;
  }
  // Proto JSON writes UTC as Z; the SSE events' `time` (absl RFC3339_full) as +00:00.
  int64_t zone_s = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-') && pos + 6 <= s.size()) {
    int64_t zh = num(pos + 1, 2), zm = num(pos + 4, 2);
    if (zh < 0 || zm < 0) return -1;
    zone_s = (s[pos] == '+' ? 1 : -1) * (zh * 3600 + zm * 60);
  } else if (pos >= s.size() || s[pos] != 'Z') {
    return -1;
  }
  // Days from civil (H. Hinnant).
  y -= mo <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  return (((days * 24 + h) * 60 + mi) * 60 + se - zone_s) * 1000000000 + frac;
}

// The string value of "key":"..." at or after `from`; empty if absent.
std::string JsonStr(std::string_view json, std::string_view key, size_t from = 0) {
  std::string pat = "\"" + std::string(key) + "\":\"";
  size_t p = json.find(pat, from);
  if (p == std::string_view::npos) return "";
  p += pat.size();
  size_t e = json.find('"', p);
  return e == std::string_view::npos ? "" : std::string(json.substr(p, e - p));
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int ConnectLoopback(int port, bool nonblocking) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) Die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) Die("connect");
  return fd;
}

void RaiseFdLimit() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// ---- a blocking HTTP/1.1 client (keep-alive) -----------------------------------

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class Client {
 public:
  Client(int port, std::string token) : port_(port), token_(std::move(token)) {}
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  // Sends the request; `sent_ns` (if set) gets CLOCK_REALTIME just before the send.
  Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                int64_t* sent_ns = nullptr) {
    if (fd_ < 0) fd_ = ConnectLoopback(port_, false);
    last_ = method + " " + target;
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token_.empty()) req += "Authorization: Bearer " + token_ + "\r\n";
    if (method != "GET") {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    if (sent_ns) *sent_ns = RealNs();
    for (size_t off = 0; off < req.size();) {
      ssize_t n = write(fd_, req.data() + off, req.size() - off);
      if (n <= 0) Die("write request");
      off += static_cast<size_t>(n);
    }
    Response r;
    size_t hdr_end;
    while ((hdr_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) Die("connection closed before a response to " + method + " " + target);
    }
    std::istringstream head(buf_.substr(0, hdr_end));
    std::string line;
    std::getline(head, line);
    r.status = std::atoi(line.c_str() + line.find(' ') + 1);
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t c = line.find(':');
      if (c == std::string::npos) continue;
      std::string k = line.substr(0, c);
      std::transform(k.begin(), k.end(), k.begin(), ::tolower);
      size_t v = line.find_first_not_of(' ', c + 1);
      r.headers[k] = v == std::string::npos ? "" : line.substr(v);
    }
    buf_.erase(0, hdr_end + 4);
    auto cl = r.headers.find("content-length");
    if (cl != r.headers.end()) {
      size_t len = std::stoull(cl->second);
      while (buf_.size() < len) {
        if (!Fill()) Die("connection closed inside a response body");
      }
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else {  // Until close.
      while (Fill()) {
      }
      r.body.swap(buf_);
    }
    auto conn = r.headers.find("connection");
    if (cl == r.headers.end() || (conn != r.headers.end() && conn->second == "close")) {
      close(fd_);
      fd_ = -1;
      buf_.clear();
    }
    return r;
  }

 private:
  bool Fill() {
    char tmp[65536];
    ssize_t n = read(fd_, tmp, sizeof tmp);
    if (n < 0) Die("read response to " + last_);
    buf_.append(tmp, static_cast<size_t>(n));
    return n > 0;
  }
  int port_;
  std::string token_;
  int fd_ = -1;
  std::string buf_, last_;
};

// ---- hello: the static responder ---------------------------------------------

const std::string kHelloBody = R"({"version":"0.1.0","apiVersion":1,"minClientApiVersion":1})";
const std::string kHelloResponse = "HTTP/1.1 200 OK\r\nServer: hello\r\nContent-Type: application/json\r\n"
                                   "Content-Length: " + std::to_string(kHelloBody.size()) + "\r\n\r\n" + kHelloBody;

void HelloEpollThread(int port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 4096) != 0) Die("bind/listen");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::vector<std::string> pending(1024);  // partial request bytes, by fd
  std::string out;
  char buf[16384];
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (static_cast<size_t>(c) >= pending.size()) pending.resize(static_cast<size_t>(c) * 2);
          pending[static_cast<size_t>(c)].clear();
          epoll_event cev{EPOLLIN, {.fd = c}};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        continue;
      }
      std::string& p = pending[static_cast<size_t>(fd)];
      p.append(buf, static_cast<size_t>(r));
      out.clear();
      size_t start = 0, end;
      while ((end = p.find("\r\n\r\n", start)) != std::string::npos) {  // GETs only: no bodies
        out += kHelloResponse;
        start = end + 4;
      }
      p.erase(0, start);
      if (!out.empty() && write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) close(fd);
    }
  }
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Like automated's Server::Impl::Session, without the API: raw socket
// pointer argument (GCC PR 99576), strand per connection.
asio::awaitable<void> HelloBeastSession(asio::ip::tcp::socket* raw, asio::thread_pool* pool) {
  beast::tcp_stream stream(std::move(*raw));
  delete raw;
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    if (pool != nullptr) {  // automated's OffLoad(): to the blocking pool and back
      auto fn = [&res] { res.body() = kHelloBody; };
      co_await asio::co_spawn(*pool, [&fn]() -> asio::awaitable<void> { fn(); co_return; }, asio::use_awaitable);
    } else {
      res.body() = kHelloBody;
    }
    res.set(http::field::server, "hello");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
}

int Hello(const Flags& f) {
  int port = static_cast<int>(f.Num("port", 0));
  int threads = static_cast<int>(f.Num("threads", 2));
  if (port <= 0) Die("hello: --port is required");
  if (!f.Has("beast")) {
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) ts.emplace_back(HelloEpollThread, port);
    std::printf("hello (epoll, %d threads) listening on %d\n", threads, port);
    std::fflush(stdout);
    for (auto& t : ts) t.join();
    return 0;
  }
  asio::io_context io;
  asio::thread_pool pool(32);  // automated's default --commit-threads, which serve POSTs
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
  asio::thread_pool* offload = f.Has("offload") ? &pool : nullptr;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    for (;;) {
      asio::ip::tcp::socket s = co_await acceptor.async_accept(asio::make_strand(io), asio::use_awaitable);
      s.set_option(asio::ip::tcp::no_delay(true));
      auto ex = s.get_executor();
      asio::co_spawn(ex, HelloBeastSession(new asio::ip::tcp::socket(std::move(s)), offload), asio::detached);
    }
  }, asio::detached);
  std::printf("hello (beast%s, %d threads) listening on %d\n", offload ? " + offload" : "", threads, port);
  std::fflush(stdout);
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back([&io] { io.run(); });
  for (auto& t : ts) t.join();
  return 0;
}

// ---- submit-start -------------------------------------------------------------

struct Stats {
  std::vector<double> v;  // ms
  void Add(double x) { v.push_back(x); }
  std::string Line(const std::string& prefix) {
    std::sort(v.begin(), v.end());
    char b[256];
    std::snprintf(b, sizeof b, "%s_p50_ms=%.3f %s_p99_ms=%.3f %s_max_ms=%.3f", prefix.c_str(), Pct(v, 50),
                  prefix.c_str(), Pct(v, 99), prefix.c_str(), v.empty() ? NAN : v.back());
    return b;
  }
};

int SubmitStart(const Flags& f) {
  int port = static_cast<int>(f.Num("port", 0));
  int count = static_cast<int>(f.Num("count", 200));
  std::string job = f.Str("job", "true");
  Client c(port, f.Str("token"));
  Stats post, start, created, total;
  int failures = 0;
  for (int i = 0; i < count + 5; ++i) {  // the first 5 warm up
    int64_t t0;
    Response r = c.Call("POST", "/v1/jobs/" + job + "/executions", "{}", &t0);
    int64_t t1 = RealNs();
    if (r.status != 201) {
      std::fprintf(stderr, "submit: HTTP %d %s\n", r.status, r.body.c_str());
      ++failures;
      continue;
    }
    std::string id = JsonStr(r.body, "id");
    Response e = c.Call("GET", "/v1/executions/" + id + "?wait=10s");
    size_t attempts = e.body.find("\"attempts\":[");
    int64_t st = attempts == std::string::npos ? -1 : ParseRfc3339Ns(JsonStr(e.body, "startTime", attempts));
    int64_t ct = ParseRfc3339Ns(JsonStr(e.body, "createTime"));
    if (st < 0 || JsonStr(e.body, "state") != "SUCCEEDED") {
      std::fprintf(stderr, "execution %s: no attempts[0].startTime or not SUCCEEDED: %s\n", id.c_str(),
                   e.body.substr(0, 300).c_str());
      ++failures;
      continue;
    }
    if (i < 5) continue;
    post.Add((t1 - t0) / 1e6);
    start.Add((st - t0) / 1e6);
    if (ct > 0) created.Add((st - ct) / 1e6);
  }
  // The floor, measured now: an HTTP round trip to `hello`, a durable write,
  // a spawn.
  Stats rtt, fsync_ms, spawn_ms;
  if (int hp = static_cast<int>(f.Num("hello-port", 0)); hp > 0) {
    Client h(hp, "");
    for (int i = 0; i < 1000; ++i) {
      int64_t a = MonoNs();
      h.Call("GET", "/ping");
      rtt.Add((MonoNs() - a) / 1e6);
    }
  }
  std::string dir = f.Str("dir", "/var/tmp");
  std::string path = dir + "/http_bench_fsync.tmp";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("open " + path);
  std::string rec(200, 'r');
  for (int i = 0; i < 200; ++i) {
    int64_t a = MonoNs();
    if (write(fd, rec.data(), rec.size()) < 0 || fdatasync(fd) != 0) Die("fdatasync");
    fsync_ms.Add((MonoNs() - a) / 1e6);
  }
  close(fd);
  unlink(path.c_str());
  for (int i = 0; i < 200; ++i) {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    pid_t pid;
    int64_t a = MonoNs();
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) Die("posix_spawn");
    spawn_ms.Add((MonoNs() - a) / 1e6);
    waitpid(pid, nullptr, 0);
  }
  std::printf("RESULT submit_start n=%zu failures=%d %s %s %s\n", start.v.size(), failures,
              start.Line("start").c_str(), post.Line("post").c_str(), created.Line("create_to_start").c_str());
  std::printf("RESULT floor %s %s %s\n", rtt.Line("http_rtt").c_str(), fsync_ms.Line("fdatasync").c_str(),
              spawn_ms.Line("spawn").c_str());
  return failures == 0 ? 0 : 1;
}

// ---- gen: the SSE test's job ------------------------------------------------------

int Gen(const Flags& f) {
  double rate = f.Num("rate", 10e6);
  double seconds = f.Num("seconds", 5);
  size_t wsize = static_cast<size_t>(f.Num("write", 65536));
  std::string start_file = f.Str("start-file");
  if (!start_file.empty()) {
    struct stat st;
    for (int i = 0; i < 120000 && stat(start_file.c_str(), &st) != 0; ++i) usleep(500);
  }
  std::string line(wsize, 'x');
  line.back() = '\n';
  const int64_t total = static_cast<int64_t>(rate * seconds);
  const double ns_per_byte = 1e9 / rate;
  int64_t written = 0, max_block = 0, max_late = 0, last_due = 0, t0 = MonoNs();
  while (written < total) {
    int64_t due = t0 + static_cast<int64_t>(static_cast<double>(written) * ns_per_byte);
    timespec ts{static_cast<time_t>(due / 1000000000), static_cast<long>(due % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    size_t n = static_cast<size_t>(std::min<int64_t>(total - written, static_cast<int64_t>(wsize)));
    int64_t a = MonoNs();
    for (size_t off = 0; off < n;) {
      ssize_t w = write(1, line.data() + (wsize - n) + off, n - off);
      if (w <= 0) Die("gen: write");
      off += static_cast<size_t>(w);
    }
    int64_t b = MonoNs();
    max_block = std::max(max_block, b - a);
    max_late = std::max(max_late, b - due);  // behind schedule, once this write is done
    last_due = due;
    written += static_cast<int64_t>(n);
  }
  // On schedule, the last write is done right after it is due; a job slowed
  // by its reader (a full pipe) or starved of CPU ends later.
  double elapsed = (MonoNs() - t0) / 1e9, planned = (last_due - t0) / 1e9;
  if (std::string report = f.Str("report"); !report.empty()) {
    char b[256];
    std::snprintf(b, sizeof b, "job_bytes=%lld job_seconds=%.3f job_planned_seconds=%.3f job_rate_mbs=%.3f "
                  "job_late_max_ms=%.2f job_write_max_ms=%.2f", static_cast<long long>(written), elapsed,
                  planned, static_cast<double>(written) / elapsed / 1e6, max_late / 1e6, max_block / 1e6);
    std::ofstream(report) << b << "\n";
  }
  return 0;
}

// ---- sse: 1,000 followers on one epoll thread ------------------------------------

struct Follower {
  int fd = -1;
  int phase = 0;  // 0 sending, 1 headers, 2 body, 3 done
  std::string header;
  // SSE line parsing: the start of the current line, its length, its last bytes.
  std::string head;
  size_t line_len = 0;
  char tail[4] = {0, 0, 0, 0};
  std::string type;       // current event's type
  int64_t data_bytes = -1, data_offset = -1, data_time = -1;  // current `log` event
  int64_t id = -1;
  int64_t bytes = 0, expected = 0, events = 0, end_size = -1;
  bool gap = false, failed = false;
  std::vector<float> lags;  // ms
};

const size_t kHeadKeep = 192;  // enough for the LogRecord's fields before its data

void FollowerLine(Follower& fw, int64_t now) {
  std::string_view l(fw.head);
  if (fw.line_len == 0) {  // end of event
    if (fw.type == "log" && fw.data_bytes >= 0) {
      if (fw.data_offset != fw.expected) fw.gap = true;
      fw.expected = fw.data_offset + fw.data_bytes;
      if (fw.id >= 0 && fw.id != fw.expected) fw.gap = true;
      fw.bytes += fw.data_bytes;
      ++fw.events;
      if (fw.data_time > 0) fw.lags.push_back(static_cast<float>((now - fw.data_time) / 1e6));
    }
    fw.type.clear();
    fw.data_bytes = fw.data_offset = fw.data_time = fw.id = -1;
    return;
  }
  if (l.rfind("event: ", 0) == 0) {
    fw.type = l.substr(7);
  } else if (l.rfind("id: ", 0) == 0) {
    fw.id = std::atoll(fw.head.c_str() + 4);
  } else if (l.rfind("data: ", 0) == 0) {
    if (fw.type == "end") {
      std::string size = JsonStr(l, "size");
      // "size" is the last field; the execution before it may hold another.
      size_t p = l.rfind("\"size\":\"");
      if (p != std::string_view::npos) size = JsonStr(l.substr(p), "size");
      fw.end_size = size.empty() ? 0 : std::atoll(size.c_str());
      fw.phase = 3;
    } else {
      size_t p = l.find("\"data\":\"");
      if (p == std::string_view::npos) return;
      fw.data_offset = std::atoll(JsonStr(l, "offset").c_str());
      fw.data_time = ParseRfc3339Ns(JsonStr(l, "time"));
      // The line ends with base64 then `"}`.
      int64_t b64 = static_cast<int64_t>(fw.line_len) - static_cast<int64_t>(p + 8) - 2;
      int pad = (fw.tail[1] == '=') + (fw.tail[0] == '=');
      fw.data_bytes = b64 / 4 * 3 - pad;
    }
  }
}

void FollowerData(Follower& fw, const char* p, size_t n, int64_t now) {
  while (n > 0) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', n));
    size_t take = nl ? static_cast<size_t>(nl - p) : n;
    size_t keep = fw.type == "end" ? take : std::min(take, kHeadKeep - std::min(kHeadKeep, fw.head.size()));
    fw.head.append(p, keep);
    fw.line_len += take;
    for (size_t i = take > 4 ? take - 4 : 0; i < take; ++i) {  // last 4 bytes of the line
      std::memmove(fw.tail, fw.tail + 1, 3);
      fw.tail[3] = p[i];
    }
    if (!nl) return;
    FollowerLine(fw, now);
    fw.head.clear();
    fw.line_len = 0;
    std::memset(fw.tail, 0, 4);
    p += take + 1;
    n -= take + 1;
  }
}

int Sse(const Flags& f) {
  RaiseFdLimit();
  int port = static_cast<int>(f.Num("port", 0));
  std::string token = f.Str("token");
  int n = static_cast<int>(f.Num("followers", 1000));
  double rate = f.Num("rate", 10e6), seconds = f.Num("seconds", 5);
  int write_size = static_cast<int>(f.Num("write", 65536));
  double timeout = f.Num("timeout", 60);
  std::string dir = f.Str("dir", "/var/tmp");
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) Die("readlink /proc/self/exe");
  self[sl] = 0;
  static int run = 0;
  std::string tag = std::to_string(getpid()) + "-" + std::to_string(++run);
  std::string start_file = dir + "/sse-start-" + tag, report = dir + "/sse-report-" + tag;
  unlink(start_file.c_str());
  Client c(port, token);
  char spec[16384];
  std::snprintf(spec, sizeof spec,
                R"({"executor":{"local":{"command":["%s","gen","--rate","%.0f","--seconds","%g","--write","%d",)"
                R"("--start-file","%s","--report","%s"]}},"logLimit":{"bytes":"%lld"}})",
                self, rate, seconds, write_size, start_file.c_str(), report.c_str(),
                static_cast<long long>(rate * seconds * 2 + (64 << 20)));
  Response put = c.Call("PUT", "/v1/jobs/sse-gen", spec);
  if (put.status != 200 && put.status != 201) Die("PUT /v1/jobs/sse-gen: " + std::to_string(put.status) + " " + put.body);
  Response sub = c.Call("POST", "/v1/jobs/sse-gen/executions", "{}");
  if (sub.status != 201) Die("submit: " + std::to_string(sub.status) + " " + sub.body);
  std::string id = JsonStr(sub.body, "id");

  std::vector<Follower> fs(static_cast<size_t>(n));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::string req = "GET /v1/executions/" + id + "/logs?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer " + token + "\r\nAccept: text/event-stream\r\n\r\n";
  for (int i = 0; i < n; ++i) {
    fs[static_cast<size_t>(i)].fd = ConnectLoopback(port, true);
    epoll_event ev{EPOLLOUT | EPOLLIN, {.u32 = static_cast<uint32_t>(i)}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fs[static_cast<size_t>(i)].fd, &ev);
  }
  std::vector<char> buf(1 << 18);
  std::vector<epoll_event> events(1024);
  int with_headers = 0, open = n;
  bool started = n == 0;
  int64_t t_connect = MonoNs(), t_headers = 0, t_start = 0, deadline = 0;
  if (n == 0) {
    std::ofstream(start_file) << "go\n";
    t_start = MonoNs();
  }
  while (open > 0) {
    int64_t mono = MonoNs();
    if (!started && with_headers == n && mono - t_headers > 200000000) {  // let the last subscribe
      std::ofstream(start_file) << "go\n";
      started = true;
      t_start = mono;
      deadline = t_start + static_cast<int64_t>((seconds + timeout) * 1e9);
    }
    if (!started && mono - t_connect > 60000000000) Die("followers did not all connect within 60 s");
    if (started && mono > deadline) break;
    int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
    int64_t now = RealNs();
    for (int e = 0; e < k; ++e) {
      Follower& fw = fs[events[static_cast<size_t>(e)].data.u32];
      if (fw.phase == 0) {
        if (write(fw.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) Die("follower request");
        fw.phase = 1;
        epoll_event ev{EPOLLIN, {.u32 = events[static_cast<size_t>(e)].data.u32}};
        epoll_ctl(ep, EPOLL_CTL_MOD, fw.fd, &ev);
        continue;
      }
      ssize_t r = read(fw.fd, buf.data(), buf.size());
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        if (fw.phase != 3) fw.failed = true;
        close(fw.fd);
        fw.fd = -1;
        --open;
        continue;
      }
      const char* p = buf.data();
      size_t len = static_cast<size_t>(r);
      if (fw.phase == 1) {
        fw.header.append(p, len);
        size_t he = fw.header.find("\r\n\r\n");
        if (he == std::string::npos) continue;
        if (fw.header.compare(0, 12, "HTTP/1.1 200") != 0) {
          std::fprintf(stderr, "follower: %s\n", fw.header.substr(0, 200).c_str());
          fw.failed = true;
        }
        fw.phase = 2;
        if (++with_headers == n) t_headers = MonoNs();
        std::string rest = fw.header.substr(he + 4);
        fw.header.clear();
        FollowerData(fw, rest.data(), rest.size(), now);
        continue;
      }
      FollowerData(fw, p, len, now);
    }
  }
  double connect_s = n > 0 ? (t_headers - t_connect) / 1e9 : 0;
  double follow_s = (MonoNs() - t_start) / 1e9;
  for (Follower& fw : fs) {  // those not done by the deadline
    if (fw.fd >= 0) close(fw.fd);
    fw.fd = -1;
  }
  // The execution's end, the stored log, the job's own rate (on a new
  // connection: the first may have idled out).
  Client c2(port, token);
  Response fin = c2.Call("GET", "/v1/executions/" + id + "?wait=60s");
  int64_t stored = 0;
  for (;;) {
    Response lg = c2.Call("GET", "/v1/executions/" + id + "/logs?offset=" + std::to_string(stored));
    if (lg.status != 200 || lg.body.empty()) break;
    stored += static_cast<int64_t>(lg.body.size());
  }
  std::string job_report;
  std::getline(std::ifstream(report), job_report);
  unlink(start_file.c_str());
  unlink(report.c_str());
  // Figures.
  std::vector<float> all;
  std::vector<float> worst;  // each follower's p99
  int complete = 0, gaps = 0, failed = 0;
  int64_t min_bytes = INT64_MAX, max_bytes = 0;
  for (Follower& fw : fs) {
    all.insert(all.end(), fw.lags.begin(), fw.lags.end());
    std::sort(fw.lags.begin(), fw.lags.end());
    if (!fw.lags.empty()) worst.push_back(static_cast<float>(Pct(fw.lags, 99)));
    if (fw.bytes == stored && fw.end_size == stored && !fw.gap && !fw.failed) ++complete;
    gaps += fw.gap;
    failed += fw.failed;
    min_bytes = std::min(min_bytes, fw.bytes);
    max_bytes = std::max(max_bytes, fw.bytes);
  }
  std::sort(all.begin(), all.end());
  std::sort(worst.begin(), worst.end());
  std::printf("RESULT sse followers=%d rate_mbs=%.3f seconds=%g write=%d state=%s stored_bytes=%lld "
              "log_bytes_field=%s complete=%d gaps=%d failed=%d min_bytes=%lld max_bytes=%lld "
              "events_per_follower=%lld lag_p50_ms=%.2f lag_p99_ms=%.2f lag_max_ms=%.2f "
              "worst_follower_p99_ms=%.2f connect_s=%.2f follow_s=%.2f %s\n",
              n, rate / 1e6, seconds, write_size, JsonStr(fin.body, "state").c_str(),
              static_cast<long long>(stored), JsonStr(fin.body, "logBytes").c_str(), complete, gaps, failed,
              static_cast<long long>(n ? min_bytes : 0), static_cast<long long>(max_bytes),
              static_cast<long long>(n ? fs[0].events : 0), Pct(all, 50), Pct(all, 99),
              all.empty() ? NAN : all.back(), worst.empty() ? NAN : worst.back(), connect_s, follow_s,
              job_report.c_str());
  return 0;
}

// ---- fanout: the loopback limit ---------------------------------------------------

// Without --rate: --threads sender threads (default 2, each with its share
// of the sockets) write --write bytes at a time, round robin, to N loopback
// sockets as fast as they take them; one receiver thread reads them all.
// With --rate (bytes/s per socket): a --write-byte message is due on every
// socket each write/rate seconds, the way a daemon fans one log chunk out;
// the senders write whatever each socket owes in one write() (as a session
// writes all its pending events at once), and the receiver measures each
// message's lag (fully received - its scheduled time) as `sse` does. After
// the last message the receiver drains for up to --timeout s.
int Fanout(const Flags& f) {
  RaiseFdLimit();
  int n = static_cast<int>(f.Num("conns", 1000));
  double seconds = f.Num("seconds", 5), rate = f.Num("rate", 0);
  size_t wsize = static_cast<size_t>(f.Num("write", 65536));
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 4096) != 0) Die("fanout listen");
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &al);
  std::vector<int> senders, receivers;
  for (int i = 0; i < n; ++i) {
    receivers.push_back(ConnectLoopback(ntohs(a.sin_port), false));
    int s = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) Die("accept");
    SetNonBlocking(s);
    SetNonBlocking(receivers.back());
    senders.push_back(s);
  }
  const size_t max_msgs = rate > 0 ? static_cast<size_t>(rate * seconds / static_cast<double>(wsize)) : 0;
  // Message k is due at start + k * period (the schedule, as the job keeps it).
  const int64_t period = rate > 0 ? static_cast<int64_t>(static_cast<double>(wsize) / rate * 1e9) : 0;
  const int64_t start_mono = MonoNs() + 20000000, start_real = start_mono + (RealNs() - MonoNs());
  std::atomic<bool> stop{false};
  // Each sender thread serves its share of the sockets (automated serves
  // sessions on --io-threads 2).
  auto send = [&](size_t lo, size_t hi) {
    std::string data(wsize, 'x'), big(std::max(wsize, size_t{1} << 20), 'x');
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = lo; i < hi; ++i) {
      // Unpaced: level-triggered, one write per ready socket (round robin).
      // Paced: edge-triggered, only to wake up when a full socket drains.
      epoll_event ev{rate > 0 ? EPOLLOUT | EPOLLET : EPOLLOUT, {.u32 = static_cast<uint32_t>(i)}};
      epoll_ctl(ep, EPOLL_CTL_ADD, senders[i], &ev);
    }
    std::vector<epoll_event> evs(1024);
    if (rate <= 0) {
      while (!stop) {
        int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
        for (int e = 0; e < k; ++e) (void)!write(senders[evs[static_cast<size_t>(e)].data.u32], data.data(), data.size());
      }
      close(ep);
      return;
    }
    std::vector<size_t> owed(senders.size(), 0);
    std::vector<size_t> busy;  // sockets owing bytes
    size_t issued = 0;
    int64_t next = start_mono;
    while (!stop) {
      for (; issued < max_msgs && MonoNs() >= next; ++issued, next += period) {  // what is due
        for (size_t i = lo; i < hi; ++i) {
          if (owed[i] == 0) busy.push_back(i);
          owed[i] += wsize;
        }
      }
      bool progress = false;
      for (size_t b = 0; b < busy.size();) {
        // Everything owed in one write, as a session writes all its pending
        // events at once (the receiver counts bytes, not boundaries).
        size_t i = busy[b];
        ssize_t w = write(senders[i], big.data(), std::min(owed[i], big.size()));
        if (w > 0) {
          progress = true;
          owed[i] -= static_cast<size_t>(w);
        }
        if (owed[i] == 0) {
          busy[b] = busy.back();
          busy.pop_back();
        } else {
          ++b;
        }
      }
      int64_t wait_ns = issued < max_msgs ? next - MonoNs() : 50000000;
      if (busy.empty() && wait_ns > 0) {
        int64_t until = MonoNs() + wait_ns;
        timespec ts{static_cast<time_t>(until / 1000000000), static_cast<long>(until % 1000000000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      } else if (!progress && wait_ns > 0) {
        epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), static_cast<int>(std::min<int64_t>(wait_ns / 1000000 + 1, 50)));
      }
    }
    close(ep);
  };
  const size_t threads = static_cast<size_t>(std::max(1.0, f.Num("threads", 2)));
  std::vector<std::thread> sender_threads;
  for (size_t t = 0; t < threads; ++t) {
    sender_threads.emplace_back(send, senders.size() * t / threads, senders.size() * (t + 1) / threads);
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < n; ++i) {
    epoll_event ev{EPOLLIN, {.u32 = static_cast<uint32_t>(i)}};
    epoll_ctl(ep, EPOLL_CTL_ADD, receivers[static_cast<size_t>(i)], &ev);
  }
  std::vector<int64_t> got(static_cast<size_t>(n)), done(static_cast<size_t>(n));
  std::vector<std::vector<float>> lags(static_cast<size_t>(n));
  std::vector<char> buf(1 << 18);
  std::vector<epoll_event> evs(1024);
  // Unpaced: 0.5 s warm-up, then count. Paced: count everything, and after
  // the last broadcast let the receivers drain for up to 10 s.
  int64_t t0 = rate > 0 ? start_mono : 0, warm = MonoNs() + 500000000;
  int64_t end = (rate > 0 ? start_mono : warm) + static_cast<int64_t>(seconds * 1e9), total = 0, t_end = 0;
  int64_t t_last = 0;
  for (int64_t now = MonoNs();; now = MonoNs()) {
    if (t0 == 0 && now >= warm) {
      t0 = now;
      std::fill(got.begin(), got.end(), 0);
      total = 0;
    }
    if (now >= end) {
      if (rate <= 0) break;
      if (t_end == 0) t_end = now;
      bool all = true;
      for (size_t i = 0; i < got.size() && all; ++i) all = static_cast<size_t>(done[i]) >= max_msgs;
      if (all || now > end + static_cast<int64_t>(f.Num("timeout", 20) * 1e9)) break;
    }
    int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
    int64_t real = RealNs();
    for (int e = 0; e < k; ++e) {
      uint32_t i = evs[static_cast<size_t>(e)].data.u32;
      ssize_t r = read(receivers[i], buf.data(), buf.size());
      if (r <= 0) continue;
      t_last = MonoNs();
      got[i] += r;
      total += r;
      if (rate <= 0) continue;
      while (got[i] >= (done[i] + 1) * static_cast<int64_t>(wsize)) {
        lags[i].push_back(static_cast<float>((real - (start_real + done[i] * period)) / 1e6));
        ++done[i];
      }
    }
  }
  // Paced: over the time until the last byte arrived (the schedule, if kept).
  double el = ((rate > 0 ? t_last : t_end ? t_end : MonoNs()) - t0) / 1e9;
  stop = true;
  for (auto& t : sender_threads) t.join();
  std::vector<float> all, worst;
  for (auto& l : lags) {
    all.insert(all.end(), l.begin(), l.end());
    std::sort(l.begin(), l.end());
    if (!l.empty()) worst.push_back(static_cast<float>(Pct(l, 99)));
  }
  std::sort(all.begin(), all.end());
  std::sort(worst.begin(), worst.end());
  int complete = 0;
  for (int64_t d : done) complete += static_cast<size_t>(d) == max_msgs;
  std::sort(got.begin(), got.end());
  std::printf("RESULT fanout conns=%d write=%zu rate_mbs=%.3f total_mbs=%.1f per_conn_mbs_min=%.3f "
              "per_conn_mbs_p50=%.3f per_conn_mbs_max=%.3f",
              n, wsize, rate / 1e6, static_cast<double>(total) / el / 1e6, static_cast<double>(got.front()) / el / 1e6,
              Pct(got, 50) / el / 1e6, static_cast<double>(got.back()) / el / 1e6);
  if (rate > 0) {
    std::printf(" messages=%zu complete=%d lag_p50_ms=%.2f lag_p99_ms=%.2f lag_max_ms=%.2f worst_conn_p99_ms=%.2f",
                max_msgs, complete, Pct(all, 50), Pct(all, 99), all.empty() ? NAN : all.back(),
                worst.empty() ? NAN : worst.back());
  }
  std::printf("\n");
  for (int fd : senders) close(fd);
  for (int fd : receivers) close(fd);
  close(lfd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::string cmd = argc > 1 ? argv[1] : "";
  Flags flags(argc, argv, 2);
  if (cmd == "hello") return Hello(flags);
  if (cmd == "submit-start") return SubmitStart(flags);
  if (cmd == "gen") return Gen(flags);
  if (cmd == "sse") return Sse(flags);
  if (cmd == "fanout") return Fanout(flags);
  std::fprintf(stderr, "usage: http_bench hello|submit-start|gen|sse|fanout [--flags]; see the top of http_bench.cc\n");
  return 2;
}
