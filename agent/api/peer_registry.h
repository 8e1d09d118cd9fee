// Callers on the Unix socket, by connection: the listener records each
// accepted connection's SO_PEERCRED identity under the peer name gRPC
// reports for it ("fd:N"), so handlers can find who is calling.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "agent/api/roles.h"

namespace nfr {

class PeerRegistry {
 public:
  void Set(int fd, Caller caller);
  std::optional<Caller> Find(const std::string& grpc_peer) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, Caller> by_peer_;
};

}  // namespace nfr
