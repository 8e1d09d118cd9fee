// The API's Unix socket: we accept connections ourselves so each one's
// SO_PEERCRED identity is known (gRPC does not expose it), record it in the
// PeerRegistry and hand the connection to the gRPC server. It also enforces
// the connection limits: in all and per uid, a deadline for the client's first
// bytes (HTTP/2 preface), and back-off when the process is out of fds.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/api/peer_registry.h"
#include "agent/api/roles.h"

namespace nfr {

class UnixListener {
 public:
  // Creates the parent directory (0755), replaces a stale socket file
  // (FAILED_PRECONDITION when another process still listens there), binds,
  // sets mode 0660 and group `group` when that group exists.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Bind(const std::string& path,
                                                            const std::string& group);
  ~UnixListener();  // stops accepting and removes the socket file

  struct Limits {
    uint32_t max_connections = 512;  // api.limits.max_connections
    uint32_t max_per_peer = 64;      // api.limits.max_connections_per_peer (per uid)
    std::chrono::milliseconds preface_timeout{10000};  // api.limits.handshake_timeout_ms
  };
  struct Counters {
    std::atomic<uint64_t> refused{0};  // over a limit, silent past the deadline, or no fd
    std::atomic<uint64_t> open{0};     // handed to gRPC and still open, plus waiting
  };

  // Starts the accept thread; connections go to `server`. `counters` outlives it.
  void Serve(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers, Limits limits,
             Counters* counters);
  void Stop();

 private:
  UnixListener(std::string path, int fd, int stop_fd)
      : path_(std::move(path)), fd_(fd), stop_fd_(stop_fd) {}
  struct Conn {
    int fd;
    ino_t ino;  // tells a closed-and-reused fd number from ours
    uid_t uid;
    std::chrono::steady_clock::time_point deadline;  // waiting for the preface
    bool handed;                                     // owned by gRPC now
  };
  void AcceptLoop(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers);
  void AcceptOne(const RoleMapper* roles, PeerRegistry* peers);
  void Sweep();  // forgets connections gRPC has closed
  void Refuse(int fd, uid_t uid, const std::string& why);

  Limits limits_;
  Counters* counters_ = nullptr;
  std::vector<Conn> conns_;  // accept thread only
  std::chrono::steady_clock::time_point backoff_until_{};
  std::chrono::milliseconds backoff_{0};

  const std::string path_;
  int fd_;
  int stop_fd_;  // eventfd
  std::thread thread_;
};

}  // namespace nfr
