#include "agent/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    const std::string& field,
                                                                    Render render) {
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", listen, "\" is not host:port; e.g. 127.0.0.1:9464"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (int e = getaddrinfo(host.empty() ? nullptr : host.c_str(), listen.substr(colon + 1).c_str(),
                          &hints, &res);
      e != 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", host,
                                                   "\" is not a numeric address (", gai_strerror(e),
                                                   "); use e.g. 127.0.0.1 or [::1]"));
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->render_ = std::move(render);
  s->fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(s->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (s->fd_ < 0 || ::bind(s->fd_, res->ai_addr, res->ai_addrlen) != 0 ||
      ::listen(s->fd_, 16) != 0) {
    const int err = errno;
    freeaddrinfo(res);
    return absl::UnavailableError(absl::StrCat(field, ": cannot listen on ", listen, ": ",
                                               std::strerror(err),
                                               "; pick a free port or another address"));
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(s->fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(s->wake_, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (wake_[1] >= 0) {
    char c = 0;
    (void)!::write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : {fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

void MetricsServer::Run() {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    Serve(c);
    ::close(c);
  }
}

void MetricsServer::Serve(int fd) {
  std::string req;
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  if (!absl::StartsWith(req, "GET /metrics ") && !absl::StartsWith(req, "GET /metrics?")) {
    WriteAll(fd, "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nonly GET /metrics\n");
    return;
  }
  const std::string body = render_();
  WriteAll(fd, absl::StrCat("HTTP/1.0 200 OK\r\nContent-Type: ", kContentType,
                            "\r\nContent-Length: ", body.size(), "\r\n\r\n", body));
}

TextfileWriter::TextfileWriter(std::string path, int interval_seconds,
                               MetricsServer::Render render) {
  thread_ = std::thread([this, path = std::move(path), interval_seconds, render] {
    std::unique_lock<std::mutex> l(mu_);
    std::string last_error;
    while (!stop_) {
      l.unlock();
      absl::Status s = WriteTextfile(path, render());
      if (!s.ok() && s.ToString() != last_error) std::fprintf(stderr, "%s\n", s.ToString().c_str());
      last_error = s.ok() ? "" : s.ToString();
      l.lock();
      cv_.wait_for(l, std::chrono::seconds(interval_seconds), [this] { return stop_; });
    }
  });
}

TextfileWriter::~TextfileWriter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

absl::Status WriteTextfile(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("metrics.textfile: cannot write ", tmp, ": ", std::strerror(errno)));
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics.textfile: cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace nfr
