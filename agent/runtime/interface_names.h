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
  void Forget();  // after interfaces were renamed or removed

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, std::string> names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nfr
