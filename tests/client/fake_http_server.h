// A tiny HTTP/1.1 server on 127.0.0.1 for the client's tests: requests are
// parsed (keep-alive included), a handler writes raw responses, and a test
// can drop connections mid-stream to play a dying server.
#ifndef AUTOMATE_TESTS_CLIENT_FAKE_HTTP_SERVER_H_
#define AUTOMATE_TESTS_CLIENT_FAKE_HTTP_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace automate_testing {

struct FakeRequest {
  std::string method;
  std::string target;  // Path and query.
  std::string path;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
  int connection = 0;  // Which accepted connection (1, 2, ...).
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class FakeConnection {
 public:
  explicit FakeConnection(int fd) : fd_(fd) {}
  bool Write(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // A whole response with a Content-Length; the connection stays open.
  bool Respond(int status, absl::string_view body,
               const std::string& content_type = "application/json",
               const std::string& extra_headers = "") {
    return Write(absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Type: ", content_type,
                              "\r\nContent-Length: ", body.size(),
                              "\r\nAutomate-Api-Version: 1\r\n", extra_headers, "\r\n", body));
  }
  // Ends the connection after this request (the handler returns).
  void Close() { close_ = true; }
  bool closing() const { return close_; }

 private:
  int fd_;
  bool close_ = false;
};

class FakeHttpServer {
 public:
  using Handler = std::function<void(const FakeRequest&, FakeConnection&)>;

  explicit FakeHttpServer(Handler handler, int port = 0) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      ::close(listen_fd_);
      listen_fd_ = -1;
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~FakeHttpServer() { Stop(); }

  // Closes the listening socket and every connection (like a killed server).
  void Stop() {
    if (stopped_.exchange(true)) return;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    {
      absl::MutexLock lock(&mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : workers_) t.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::vector<FakeRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  int connections() {
    absl::MutexLock lock(&mu_);
    return connections_;
  }

 private:
  void Accept() {
    while (!stopped_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopped_) return;
        continue;
      }
      int n;
      {
        absl::MutexLock lock(&mu_);
        if (stopped_) {
          ::close(fd);
          return;
        }
        open_fds_.push_back(fd);
        n = ++connections_;
      }
      workers_.emplace_back([this, fd, n] { Serve(fd, n); });
    }
  }

  void Serve(int fd, int connection) {
    std::string buffer;
    FakeConnection conn(fd);
    while (!conn.closing()) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(fd, &buffer)) return Done(fd);
      }
      FakeRequest request;
      request.connection = connection;
      std::vector<std::string> lines = absl::StrSplit(buffer.substr(0, end), "\r\n");
      std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
      request.method = first.size() > 0 ? first[0] : "";
      request.target = first.size() > 1 ? first[1] : "";
      request.path = request.target.substr(0, request.target.find('?'));
      for (size_t i = 1; i < lines.size(); ++i) {
        size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        request.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      }
      buffer.erase(0, end + 4);
      size_t length = 0;
      if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
        (void)absl::SimpleAtoi(it->second, &length);
      }
      while (buffer.size() < length) {
        if (!ReadMore(fd, &buffer)) return Done(fd);
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      handler_(request, conn);
    }
    Done(fd);
  }

  static bool ReadMore(int fd, std::string* buffer) {
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  void Done(int fd) {
    absl::MutexLock lock(&mu_);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // Only the acceptor adds; joined after it.
  absl::Mutex mu_;
  std::vector<int> open_fds_;
  std::vector<FakeRequest> requests_;
  int connections_ = 0;
};

}  // namespace automate_testing

#endif  // AUTOMATE_TESTS_CLIENT_FAKE_HTTP_SERVER_H_
