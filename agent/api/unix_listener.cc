#include "agent/api/unix_listener.h"

#include <fcntl.h>
#include <grp.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "agent/util/log_budget.h"

namespace nfr {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Bind(const std::string& path,
                                                                 const std::string& group) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("api.unix_socket: path ", path,
                                                   " is longer than ", sizeof(addr.sun_path) - 1,
                                                   " bytes; choose a shorter path"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), 0755);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", dir.string(), " for the API socket: ", ec.message()));
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("api.unix_socket: ", path,
                       " exists and is not a socket; remove it or choose another path"));
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      return absl::FailedPreconditionError(
          absl::StrCat("api.unix_socket: another process is listening on ", path,
                       "; stop the other nfr-agent or give this one a different --api_socket"));
    }
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno("socket for", path);
  const mode_t old = ::umask(0117);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0 || ::listen(fd, 128) != 0) {
    absl::Status s = Errno("cannot listen on", path);
    ::close(fd);
    return s;
  }
  ::chmod(path.c_str(), 0660);
  if (!group.empty()) {
    struct group gr, *res = nullptr;
    char buf[8192];
    if (getgrnam_r(group.c_str(), &gr, buf, sizeof(buf), &res) == 0 && res != nullptr) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), gr.gr_gid) != 0) {
        absl::Status s = Errno(absl::StrCat("cannot give group ", group, " to"), path);
        ::close(fd);
        return s;
      }
    } else {
      LogLine(absl::StrCat("nfr-agent: api.socket_group '", group, "' does not exist: ", path,
                           " stays owned by the agent's group, so only root can use the API; "
                           "create it (groupadd --system ",
                           group, ") and restart, or set api.socket_group"));
    }
  }
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    ::close(fd);
    return Errno("eventfd for", path);
  }
  return std::unique_ptr<UnixListener>(new UnixListener(path, fd, stop_fd));
}

void UnixListener::Serve(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers,
                         Limits limits, Counters* counters) {
  limits_ = limits;
  counters_ = counters;
  thread_ = std::thread([this, server, roles, peers] { AcceptLoop(server, roles, peers); });
}

namespace {

using Clock = std::chrono::steady_clock;

int MillisUntil(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return 0;
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count() + 1);
}

// One line per second at most for refused connections.
LogBudget& RefusalLog() {
  static auto* budget = new LogBudget(1, [](uint64_t n) {
    LogLine(absl::StrCat("nfr-agent: api: ", n, " more API connections refused"));
  });
  return *budget;
}

// An HTTP/2 server preface (empty SETTINGS) and a GOAWAY (ENHANCE_YOUR_CALM)
// whose debug data says why, so a client can tell a limit from a crash.
void SendGoaway(int fd, absl::string_view why) {
  why = why.substr(0, 200);
  std::string f = std::string("\0\0\0\x04\0\0\0\0\0", 9);
  const uint32_t len = 8 + static_cast<uint32_t>(why.size());
  f += static_cast<char>(len >> 16);
  f += static_cast<char>(len >> 8);
  f += static_cast<char>(len);
  f += std::string("\x07\0\0\0\0\0" "\0\0\0\0" "\0\0\0\x0b", 14);
  f.append(why.data(), why.size());
  (void)!::send(fd, f.data(), f.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

void UnixListener::Refuse(int fd, uid_t uid, const std::string& why) {
  counters_->refused.fetch_add(1);
  SendGoaway(fd, why);
  ::close(fd);
  if (RefusalLog().Allow()) {
    LogLine(absl::StrCat("nfr-agent: api: refused a connection from uid ", uid, " on ", path_,
                         ": ", why));
  }
}

void UnixListener::Sweep() {
  std::erase_if(conns_, [](const Conn& c) {
    if (!c.handed) return false;
    struct stat st;
    return ::fstat(c.fd, &st) != 0 || st.st_ino != c.ino;
  });
}

void UnixListener::AcceptLoop(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers) {
  std::vector<pollfd> p;
  for (;;) {
    const Clock::time_point now = Clock::now();
    const bool backing_off = now < backoff_until_;
    p.clear();
    p.push_back({stop_fd_, POLLIN, 0});
    p.push_back({backing_off ? -1 : fd_, POLLIN, 0});
    int timeout = 1000;  // also sweeps connections gRPC has closed
    if (backing_off) timeout = std::min(timeout, MillisUntil(backoff_until_, now));
    for (const Conn& c : conns_) {
      if (c.handed) continue;
      p.push_back({c.fd, POLLIN, 0});
      timeout = std::min(timeout, MillisUntil(c.deadline, now));
    }
    if (::poll(p.data(), p.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents) return;
    const Clock::time_point after = Clock::now();
    size_t k = 2;
    for (Conn& c : conns_) {
      if (c.handed) continue;
      const short ev = p[k++].revents;
      if (ev & POLLIN) {
        c.handed = true;  // the client has spoken: gRPC owns it from here
        grpc::AddInsecureChannelFromFd(server, c.fd);
      } else if (ev & (POLLHUP | POLLERR)) {
        ::close(c.fd);
        c.fd = -1;
      } else if (after >= c.deadline) {
        Refuse(c.fd, c.uid,
               absl::StrCat("sent nothing within api.limits.handshake_timeout_ms (",
                            limits_.preface_timeout.count(), ")"));
        c.fd = -1;
      }
    }
    std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
    Sweep();
    if (p[1].revents & POLLIN) AcceptOne(roles, peers);
    counters_->open.store(conns_.size());
  }
}

void UnixListener::AcceptOne(const RoleMapper* roles, PeerRegistry* peers) {
  int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors: wait instead of spinning on a listener that stays readable.
      backoff_ = std::min(std::chrono::milliseconds(1000),
                          std::max(std::chrono::milliseconds(10), backoff_ * 2));
      backoff_until_ = Clock::now() + backoff_;
      counters_->refused.fetch_add(1);
      if (RefusalLog().Allow()) {
        LogLine(absl::StrCat("nfr-agent: api: cannot accept on ", path_, ": ",
                             std::strerror(errno), "; retrying in ", backoff_.count(),
                             " ms. Raise LimitNOFILE or lower api.limits.max_connections"));
      }
    }
    return;
  }
  backoff_ = std::chrono::milliseconds(0);
  ucred cred{};
  socklen_t len = sizeof(cred);
  const bool known = ::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  const uid_t uid = known ? cred.uid : static_cast<uid_t>(-1);
  const size_t mine = std::count_if(conns_.begin(), conns_.end(),
                                    [uid](const Conn& x) { return x.uid == uid; });
  if (conns_.size() >= limits_.max_connections) {
    Refuse(c, uid,
           absl::StrCat(conns_.size(), " API connections are open, the limit "
                        "api.limits.max_connections (", limits_.max_connections, ")"));
    return;
  }
  if (mine >= limits_.max_per_peer) {
    Refuse(c, uid,
           absl::StrCat("uid ", uid, " has ", mine, " API connections open, the limit "
                        "api.limits.max_connections_per_peer (", limits_.max_per_peer, ")"));
    return;
  }
  struct stat st;
  if (::fstat(c, &st) != 0) {
    ::close(c);
    return;
  }
  if (known) {
    UnixPeerCred peer;
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
    peers->Set(c, roles->ForUnixPeer(peer));
  } else {
    peers->Set(c, Caller{"unix:unknown-peer", nfr::v1::ROLE_NONE});
  }
  conns_.push_back(Conn{c, st.st_ino, uid, Clock::now() + limits_.preface_timeout, false});
}

void UnixListener::Stop() {
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

UnixListener::~UnixListener() {
  Stop();
  for (const Conn& c : conns_) {
    if (!c.handed) ::close(c.fd);
  }
  ::close(fd_);
  ::close(stop_fd_);
  ::unlink(path_.c_str());
}

}  // namespace nfr
