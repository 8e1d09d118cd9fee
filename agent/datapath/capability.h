// Kernel capability probe helpers: does this kernel have the tc -> netfilter pathway
// (sysctl net.core.tc_nf_redirect + bpf_redirect accepting BPF_F_NETFILTER)?
#pragma once

#include "agent/datapath/datapath.h"

namespace nfr::datapath {

// Runs the already loaded nfr_probe program once with BPF_PROG_TEST_RUN.
KernelCapability ProbeWithProgram(int probe_prog_fd);

}  // namespace nfr::datapath
