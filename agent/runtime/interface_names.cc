#include "agent/runtime/interface_names.h"

#include <net/if.h>

#include "absl/strings/str_cat.h"

namespace nfr {

std::string InterfaceNames::NameOf(uint32_t ifindex) {
  if (ifindex == 0) return "";
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = names_.find(ifindex); it != names_.end()) return it->second;
  }
  char buf[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, buf) == nullptr) return absl::StrCat("if", ifindex);
  absl::MutexLock lock(&mu_);
  if (names_.size() > 4096) names_.clear();
  return names_[ifindex] = buf;
}

uint32_t InterfaceNames::IndexOf(const std::string& name) {
  if (name.empty()) return 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [index, n] : names_) {
      if (n == name) return index;
    }
  }
  return if_nametoindex(name.c_str());
}

void InterfaceNames::Remember(uint32_t ifindex, std::string name) {
  absl::MutexLock lock(&mu_);
  names_[ifindex] = std::move(name);
}

}  // namespace nfr
