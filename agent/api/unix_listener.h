// The API's Unix socket: we accept connections ourselves so each one's
// SO_PEERCRED identity is known (gRPC does not expose it), record it in the
// PeerRegistry and hand the connection to the gRPC server.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

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

  // Starts the accept thread; connections go to `server`.
  void Serve(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers);
  void Stop();

 private:
  UnixListener(std::string path, int fd, int stop_fd)
      : path_(std::move(path)), fd_(fd), stop_fd_(stop_fd) {}
  void AcceptLoop(grpc::Server* server, const RoleMapper* roles, PeerRegistry* peers);

  const std::string path_;
  int fd_;
  int stop_fd_;  // eventfd
  std::thread thread_;
};

}  // namespace nfr
