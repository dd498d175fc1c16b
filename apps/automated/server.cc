// Boost 1.74's Asio coroutine headers use std::exchange without <utility>.
#include <utility>

#include "server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "automate/execution.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/asio.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "web_assets.h"

namespace automated {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

tcp::socket& Socket(beast::tcp_stream& s) { return s.socket(); }
tcp::socket& Socket(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer().socket(); }
beast::tcp_stream& Lowest(beast::tcp_stream& s) { return s; }
beast::tcp_stream& Lowest(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer(); }

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Api* api;
  automate::Engine* engine;
  Metrics* metrics;
  asio::io_context io;
  asio::thread_pool blocking;  // Reads.
  asio::thread_pool committing;  // Changes: they wait for durable commits.
  std::optional<asio::ssl::context> tls;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  LogHub hub;
  std::atomic<bool> stopping{false};
  std::atomic<int> sessions{0};
  std::atomic<int> in_flight{0};
  std::string address;

  Impl(ServerOptions o, Api* a, automate::Engine* e, Metrics* m)
      : options(std::move(o)), api(a), engine(e), metrics(m),
        blocking(static_cast<size_t>(options.blocking_threads)),
        committing(static_cast<size_t>(options.commit_threads)),
        hub(e) {}

  // Runs `fn` on `pool` (the blocking pool unless given) and resumes on the
  // caller's executor.
  //
  // GCC 12 destroys by-value coroutine arguments with non-trivial
  // destructors twice (GCC PR 99576) when the call is co_awaited: every
  // coroutine here takes its arguments by reference or as trivially
  // destructible values, and callers keep `fn` as a named local.
  template <typename Fn>
  auto OffLoad(Fn& fn, asio::thread_pool* pool = nullptr) -> awaitable<decltype(fn())> {
    using T = decltype(fn());
    co_return co_await asio::co_spawn(
        pool != nullptr ? *pool : blocking, [&fn]() -> awaitable<T> { co_return fn(); },
        use_awaitable);
  }

  awaitable<void> Accept() {
    while (!stopping) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(
          asio::make_strand(io), asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        continue;  // EMFILE and friends: keep serving the others.
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      if (tls) {
        asio::co_spawn(executor, TlsSession(new tcp::socket(std::move(socket))), asio::detached);
      } else {
        asio::co_spawn(executor, PlainSession(new tcp::socket(std::move(socket))), asio::detached);
      }
    }
  }

  // Sessions take ownership of a heap socket through a raw pointer: a
  // trivially destructible argument (see OffLoad).
  awaitable<void> PlainSession(tcp::socket* raw) {
    beast::tcp_stream stream(std::move(*raw));
    delete raw;
    co_await Session(stream);
  }

  awaitable<void> TlsSession(tcp::socket* raw) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(*raw)), *tls);
    delete raw;
    stream.next_layer().expires_after(Chrono(options.read_timeout));
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    co_await Session(stream);
  }

  template <typename Stream>
  awaitable<void> Session(Stream& stream) {
    ++sessions;
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(options.max_header_bytes);
      // An idle connection may wait `idle_timeout` for its next request; once
      // its first byte is there, the whole request (headers and body) must
      // arrive within `read_timeout`, so a client trickling bytes cannot hold
      // the connection for long.
      if (buffer.size() == 0) {
        Lowest(stream).expires_after(Chrono(options.idle_timeout));
        size_t n = co_await stream.async_read_some(buffer.prepare(16 << 10),
                                                   asio::redirect_error(use_awaitable, ec));
        buffer.commit(n);
      }
      if (!ec) {
        Lowest(stream).expires_after(Chrono(options.read_timeout));
        co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      }
      if (!ec && !parser.is_done()) {
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == beast::error::timeout || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset) {
        break;
      }
      if (ec) {
        // Malformed or too large: answer and close.
        absl::Status status =
            ec == http::error::body_limit
                ? absl::ResourceExhaustedError(absl::StrCat("request body larger than ",
                                                            options.max_body_bytes, " bytes"))
            : ec == http::error::header_limit
                ? absl::ResourceExhaustedError(absl::StrCat("request headers larger than ",
                                                            options.max_header_bytes, " bytes"))
                : absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message()));
        Response r = Api::ErrorResponse(status, 11, false);
        if (ec == http::error::body_limit) r.result(http::status::payload_too_large);
        if (ec == http::error::header_limit) r.result(http::status::request_header_fields_too_large);
        Lowest(stream).expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
        metrics->HttpRequest("", static_cast<int>(r.result_int()));
        break;
      }
      Request request = parser.release();
      ++in_flight;
      bool keep = co_await Serve(stream, request);
      --in_flight;
      if (!keep) break;
    }
    Lowest(stream).expires_after(std::chrono::seconds(2));
    Socket(stream).shutdown(tcp::socket::shutdown_both, ec);
    --sessions;
  }

  // Answers one request; false when the connection should close.
  template <typename Stream>
  awaitable<bool> Serve(Stream& stream, Request& request) {
    boost::system::error_code ec;
    std::string target(request.target());
    std::string path = target.substr(0, target.find('?'));
    // The page's static files: no engine work, served on the I/O thread.
    if (request.method() == http::verb::get || request.method() == http::verb::head) {
      const WebAsset* asset = nullptr;
      std::string body;
      std::string type;
      if (path == "/v1/openapi.json") {
        asset = FindWebAsset("/v1/openapi.json");
      } else if (path == "/" || absl::StartsWith(path, "/ui/")) {
        asset = FindWebAsset(path);
      }
      if (asset != nullptr) {
        Response r{http::status::ok, request.version()};
        r.set(http::field::server, "automated");
        r.set(http::field::content_type, std::string(asset->content_type));
        r.set(http::field::etag, std::string(asset->etag));
        r.set(http::field::cache_control, "no-cache");
        r.set("Content-Security-Policy",
              "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'");
        r.set("X-Content-Type-Options", "nosniff");
        auto if_none_match = request[http::field::if_none_match];
        if (std::string_view(if_none_match.data(), if_none_match.size()) == asset->etag) {
          r.result(http::status::not_modified);
        } else if (request.method() == http::verb::get) {
          r.body() = std::string(asset->body);
        }
        r.keep_alive(request.keep_alive());
        r.prepare_payload();
        Lowest(stream).expires_after(Chrono(options.read_timeout));
        co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
        metrics->HttpRequest(path == "/v1/openapi.json" ? "GET /v1/openapi.json" : "GET /", r.result_int());
        co_return !ec && r.keep_alive();
      }
    }
    auto handle = [this, &request] { return api->Handle(request); };
    ApiResult result;
    if (Api::NeverBlocks(request)) {
      result = handle();
    } else if (request.method() == http::verb::get || request.method() == http::verb::head) {
      result = co_await OffLoad(handle);
    } else {
      asio::thread_pool* pool = &committing;
      result = co_await OffLoad(handle, pool);
    }
    if (result.log) {
      if (result.log->sse) {
        co_await StreamSse(stream, request, *result.log);
      } else {
        co_await StreamPlain(stream, request, *result.log);
      }
      metrics->HttpRequest(result.route, 200);
      co_return false;
    }
    Response& r = result.response;
    Lowest(stream).expires_after(Chrono(options.read_timeout));
    co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
    metrics->HttpRequest(result.route, r.result_int());
    co_return !ec && r.keep_alive() && !stopping;
  }

  // Blocking (run it through OffLoad): the stored log of `id` from
  // `offset`, about `max_bytes` of it, and the offset after what was read.
  struct Stored {
    absl::Status status;
    std::vector<automate::LogChunk> chunks;
    int64_t next = 0;
  };
  Stored ReadStored(const std::string& id, int64_t offset, size_t max_bytes) {
    Stored s;
    s.next = offset;
    absl::StatusOr<std::unique_ptr<automate::LogReader>> reader = engine->OpenLog(id, offset, false);
    if (!reader.ok()) {
      s.status = reader.status();
      return s;
    }
    size_t bytes = 0;
    while (bytes < max_bytes) {
      size_t before = s.chunks.size();
      absl::StatusOr<size_t> n = (*reader)->Read(&s.chunks, max_bytes - bytes, absl::Now());
      if (!n.ok()) {
        if (n.status().code() != absl::StatusCode::kOutOfRange) s.status = n.status();
        break;
      }
      if (s.chunks.size() == before) break;
      for (size_t i = before; i < s.chunks.size(); ++i) bytes += s.chunks[i].data.size();
    }
    s.next = (*reader)->offset();
    return s;
  }

  template <typename Stream>
  awaitable<void> StreamPlain(Stream& stream, Request& request, const LogPlan& plan) {
    // Up to 16 MiB per response; Automate-Log-Next-Offset says where to go on.
    struct Got {
      absl::Status status;
      std::string data;
      int64_t next = 0;
    };
    auto read = [this, &plan] {
      Stored stored = ReadStored(plan.id, plan.offset, 16u << 20);
      Got g{stored.status, "", stored.next};
      for (const automate::LogChunk& c : stored.chunks) g.data += c.data;
      return g;
    };
    Got got = co_await OffLoad(read);
    boost::system::error_code ec;
    Response r;
    if (!got.status.ok()) {
      r = Api::ErrorResponse(got.status, request.version(), false);
    } else {
      r = Response{http::status::ok, request.version()};
      r.set(http::field::server, "automated");
      r.set(http::field::content_type, "text/plain; charset=utf-8");
      r.set("Automate-Log-Next-Offset", std::to_string(got.next));
      r.body() = std::move(got.data);
      r.keep_alive(false);
      r.prepare_payload();
      metrics->LogBytesSent(static_cast<int64_t>(r.body().size()));
    }
    Lowest(stream).expires_after(Chrono(options.read_timeout));
    co_await http::async_write(stream, r, asio::redirect_error(use_awaitable, ec));
  }

  template <typename Stream>
  awaitable<void> StreamSse(Stream& stream, Request& request, const LogPlan& plan) {
    boost::system::error_code ec;
    http::response<http::empty_body> head{http::status::ok, request.version()};
    head.set(http::field::server, "automated");
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set("Automate-Api-Version", std::to_string(kApiVersion));
    head.set("X-Accel-Buffering", "no");
    head.keep_alive(false);
    http::response_serializer<http::empty_body> serializer(head);
    Lowest(stream).expires_after(Chrono(options.read_timeout));
    co_await http::async_write_header(stream, serializer, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    std::shared_ptr<Feed> feed;
    if (plan.follow) {
      auto subscribe = [this, &plan] { return hub.Subscribe(plan.id, plan.offset); };
      feed = co_await OffLoad(subscribe);
    }
    int64_t offset = plan.offset;
    auto executor = co_await asio::this_coro::executor;
    // Shared with the feed's wake-up callback, which may outlive this frame.
    auto timer = std::make_shared<asio::steady_timer>(executor);
    auto last_write = std::chrono::steady_clock::now();
    while (!ec && !stopping) {
      std::vector<std::shared_ptr<const LogEvent>> events;
      std::string end_event;
      Feed::Poll poll = feed ? feed->Collect(offset, 1 << 20, &events, &end_event) : Feed::Poll::kBehind;
      // Resuming inside an event: take that piece from the stored log.
      if (poll == Feed::Poll::kData && events.front()->offset < offset) poll = Feed::Poll::kBehind;
      if (poll == Feed::Poll::kBehind) {
        // Read the stored log from `offset` ourselves, one bounded step.
        struct Step {
          absl::Status status;
          std::string text;
          int64_t next = 0;
          bool at_end = false;
        };
        auto read_step = [this, &plan, offset] {
          Stored stored = ReadStored(plan.id, offset, 1 << 20);
          Step st{stored.status, "", stored.next, stored.chunks.empty()};
          for (const automate::LogChunk& c : stored.chunks) st.text += EncodeLogEvent(c);
          return st;
        };
        Step step = co_await OffLoad(read_step);
        if (!step.status.ok()) break;
        if (!step.at_end) {
          Lowest(stream).expires_after(Chrono(options.read_timeout));
          co_await asio::async_write(stream, asio::buffer(step.text), asio::redirect_error(use_awaitable, ec));
          metrics->LogBytesSent(static_cast<int64_t>(step.text.size()));
          offset = step.next;
          last_write = std::chrono::steady_clock::now();
          continue;
        }
        // Nothing more is stored. Without follow, or once final, end here.
        auto get = [this, &plan] { return engine->GetExecution(plan.id); };
        absl::StatusOr<automate::v1::Execution> exec = co_await OffLoad(get);
        if (!exec.ok()) break;
        if (!plan.follow || automate::IsFinal(exec->state())) {
          std::string end = EncodeEndEvent(*exec, offset);
          co_await asio::async_write(stream, asio::buffer(end), asio::redirect_error(use_awaitable, ec));
          break;
        }
        if (!feed || feed->Idle()) {
          if (feed) feed->RemoveSubscriber();
          auto resubscribe = [this, &plan, offset] { return hub.Subscribe(plan.id, offset); };
          feed = co_await OffLoad(resubscribe);
        }
        poll = Feed::Poll::kWait;
      }
      if (poll == Feed::Poll::kData) {
        std::vector<asio::const_buffer> buffers;
        for (const auto& e : events) buffers.push_back(asio::buffer(e->text));
        Lowest(stream).expires_after(Chrono(options.read_timeout));
        size_t n = co_await asio::async_write(stream, buffers, asio::redirect_error(use_awaitable, ec));
        metrics->LogBytesSent(static_cast<int64_t>(n));
        offset = events.back()->end;
        last_write = std::chrono::steady_clock::now();
        continue;
      }
      if (poll == Feed::Poll::kEnd) {
        co_await asio::async_write(stream, asio::buffer(end_event), asio::redirect_error(use_awaitable, ec));
        break;
      }
      // kWait: until the feed has more, or 15 s for a keepalive comment.
      timer->expires_after(std::chrono::seconds(15));
      std::weak_ptr<asio::steady_timer> weak = timer;
      feed->NotifyPast(offset, [weak, executor] {
        asio::post(executor, [weak] {
          if (auto t = weak.lock()) t->cancel();
        });
      });
      boost::system::error_code timer_ec;
      co_await timer->async_wait(asio::redirect_error(use_awaitable, timer_ec));
      if (!timer_ec && std::chrono::steady_clock::now() - last_write >= std::chrono::seconds(15)) {
        static const std::string kKeepalive = ": keepalive\n\n";
        Lowest(stream).expires_after(Chrono(options.read_timeout));
        co_await asio::async_write(stream, asio::buffer(kKeepalive), asio::redirect_error(use_awaitable, ec));
        last_write = std::chrono::steady_clock::now();
      }
    }
    if (feed) feed->RemoveSubscriber();
  }
};

Server::Server(ServerOptions options, Api* api, automate::Engine* engine, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), api, engine, metrics)) {}

Server::~Server() {
  impl_->io.stop();
  impl_->blocking.join();
  impl_->committing.join();
}

absl::Status Server::Bind() {
  Impl& s = *impl_;
  std::string host = s.options.listen;
  std::string port = "8420";
  size_t colon = host.rfind(':');
  if (colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) host = host.substr(1, host.size() - 2);
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen: bad port in \"", s.options.listen, "\""));
  }
  if (!s.options.tls_cert.empty() || !s.options.tls_key.empty()) {
    if (s.options.tls_cert.empty() || s.options.tls_key.empty()) {
      return absl::InvalidArgumentError("tls: both tls_cert and tls_key are needed");
    }
    s.tls.emplace(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    s.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
    s.tls->use_certificate_chain_file(s.options.tls_cert, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("tls_cert: ", s.options.tls_cert, ": ", ec.message()));
    s.tls->use_private_key_file(s.options.tls_key, asio::ssl::context::pem, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("tls_key: ", s.options.tls_key, ": ", ec.message()));
  }
  boost::system::error_code ec;
  tcp::resolver resolver(s.io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("listen: cannot resolve \"", host, "\": ", ec.message()));
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("listen on ", s.options.listen, ": ", ec.message()));
  }
  tcp::endpoint bound = s.acceptor.local_endpoint();
  std::string shown = bound.address().is_v6() ? absl::StrCat("[", bound.address().to_string(), "]")
                                              : bound.address().to_string();
  s.address = absl::StrCat(s.tls ? "https://" : "http://", shown, ":", bound.port());
  return absl::OkStatus();
}

std::string Server::address() const { return impl_->address; }

void Server::Stop() {
  Impl& s = *impl_;
  asio::post(s.io, [&s] {
    if (s.stopping.exchange(true)) return;
    boost::system::error_code ec;
    s.acceptor.close(ec);
    s.signals.cancel(ec);
  });
}

void Server::Run() {
  Impl& s = *impl_;
  s.signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) Stop();
  });
  asio::co_spawn(s.io, s.Accept(), asio::detached);
  std::vector<std::thread> threads;
  auto work = asio::make_work_guard(s.io);
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i) {
    threads.emplace_back([&s] { s.io.run(); });
  }
  // Wait for a stop, then for in-flight requests (at most `drain`).
  while (!s.stopping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  absl::Time deadline = absl::Now() + s.options.drain;
  while (s.in_flight > 0 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  work.reset();
  s.io.stop();
  for (auto& t : threads) t.join();
  s.hub.Clear();
}

}  // namespace automated
