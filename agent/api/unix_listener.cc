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
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"

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

void UnixListener::Serve(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers) {
  thread_ = std::thread([this, server, roles, peers] { AcceptLoop(server, roles, peers); });
}

void UnixListener::AcceptLoop(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers) {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) continue;
    ucred cred{};
    socklen_t len = sizeof(cred);
    UnixPeerCred peer;
    if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer.pid = cred.pid;
      peer.uid = cred.uid;
      peer.gid = cred.gid;
      Caller caller = roles->ForUnixPeer(peer);
      peers->Set(c, std::move(caller));
    } else {
      peers->Set(c, Caller{"unix:unknown-peer", nfr::v1::ROLE_NONE});
    }
    grpc::AddInsecureChannelFromFd(server, c);
  }
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
  ::close(fd_);
  ::close(stop_fd_);
  ::unlink(path_.c_str());
}

}  // namespace nfr
