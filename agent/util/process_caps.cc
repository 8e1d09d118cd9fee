#include "agent/util/process_caps.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

const char* CapName(int cap) {
  switch (cap) {
    case kCapNetAdmin:
      return "CAP_NET_ADMIN";
    case kCapSysAdmin:
      return "CAP_SYS_ADMIN";
    case kCapPerfmon:
      return "CAP_PERFMON";
    case kCapBpf:
      return "CAP_BPF";
    default:
      return "CAP_?";
  }
}

}  // namespace

bool HasEffectiveCapability(int cap) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const int word = cap / 32;
  return word < _LINUX_CAPABILITY_U32S_3 && (data[word].effective & (1u << (cap % 32))) != 0;
}

std::string MissingCapabilities(std::initializer_list<int> caps) {
  const bool sys_admin = HasEffectiveCapability(kCapSysAdmin);
  std::string out;
  for (int cap : caps) {
    if (HasEffectiveCapability(cap)) continue;
    if (sys_admin && (cap == kCapBpf || cap == kCapPerfmon)) continue;
    absl::StrAppend(&out, out.empty() ? "" : ", ", CapName(cap));
  }
  return out;
}

}  // namespace nfr
