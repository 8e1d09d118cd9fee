#include "agent/datapath/capability.h"

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/datapath/bpf_program.h"
#include "nfr_abi.h"

namespace nfr {
namespace {

constexpr const char* kSysctl = "/proc/sys/net/core/tc_nf_redirect";

}  // namespace

bool KernelCapability::native() const {
  return sysctl_present && abi_version == NFR_KERNEL_ABI_VERSION && test_run_redirect;
}

std::string KernelCapability::Reason() const {
  if (native()) {
    return absl::StrCat("tc_nf_redirect ABI ", abi_version,
                        ", bpf_redirect accepts BPF_F_NETFILTER");
  }
  if (!sysctl_present) return "kernel lacks tc_nf_redirect";
  if (abi_version != NFR_KERNEL_ABI_VERSION) {
    return absl::StrCat("tc_nf_redirect ABI ", abi_version, ", agent needs ",
                        NFR_KERNEL_ABI_VERSION);
  }
  return "tc_nf_redirect present but bpf_redirect refuses BPF_F_NETFILTER";
}

std::string KernelCapability::Describe() const {
  return absl::StrCat(native() ? "native (" : "compat only (", Reason(), ")");
}

KernelCapability ProbeKernelCapability() {
  auto prog = datapath::BpfProgram::Load();
  if (!prog.ok()) {
    KernelCapability cap;
    std::ifstream f(kSysctl);
    cap.sysctl_present = f.good();
    if (f.good()) f >> cap.abi_version;
    return cap;
  }
  return datapath::ProbeWithProgram((*prog)->probe_fd());
}

namespace datapath {

KernelCapability ProbeWithProgram(int probe_prog_fd) {
  KernelCapability cap;
  std::ifstream f(kSysctl);
  cap.sysctl_present = f.good();
  if (f.good() && !(f >> cap.abi_version)) cap.abi_version = 0;

  unsigned char frame[64] = {};
  frame[12] = 0x08;  // IPv4 ethertype; content is irrelevant to the probe
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
              .repeat = 1);
  cap.test_run_redirect =
      bpf_prog_test_run_opts(probe_prog_fd, &opts) == 0 && opts.retval == TC_ACT_REDIRECT;
  return cap;
}

}  // namespace datapath
}  // namespace nfr
