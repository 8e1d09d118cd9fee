// ifindex -> interface name in the agent's network namespace, cached.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace nfr {

class InterfaceNames {
 public:
  // "if<N>" when the index is unknown (the interface went away).
  std::string NameOf(uint32_t ifindex);
  // Names an interface ahead of its first packet (the interfaces the agent attached to).
  void Remember(uint32_t ifindex, std::string name);
  // 0 when unknown.
  uint32_t IndexOf(const std::string& name);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, std::string> names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nfr
