#include "agent/api/peer_registry.h"

#include "absl/strings/str_cat.h"

namespace nfr {

void PeerRegistry::Set(int fd, Caller caller) {
  std::lock_guard<std::mutex> l(mu_);
  by_peer_[absl::StrCat("fd:", fd)] = std::move(caller);
}

std::optional<Caller> PeerRegistry::Find(const std::string& grpc_peer) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_peer_.find(grpc_peer);
  if (it == by_peer_.end()) return std::nullopt;
  return it->second;
}

}  // namespace nfr
