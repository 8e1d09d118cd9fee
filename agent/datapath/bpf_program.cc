#include "agent/datapath/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nfr_tc.skel.h"

namespace nfr::datapath {
namespace {

uint32_t ProgId(int fd) {
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// libbpf logs netlink extack text for expected outcomes (clsact already present, no filter at
// our handle yet) at warning level; keep warnings that matter, all of it with NFR_LIBBPF_DEBUG.
int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  static const bool debug = getenv("NFR_LIBBPF_DEBUG") != nullptr;
  if (!debug && (level == LIBBPF_DEBUG || strstr(fmt, "Kernel error message") != nullptr)) {
    return 0;
  }
  return vfprintf(stderr, fmt, args);
}

}  // namespace

void InstallLibbpfLogger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LibbpfPrint); });
}

BpfProgram::BpfProgram(nfr_tc* skel) : skel_(skel) {
  ingress_id_ = ProgId(ingress_fd());
  egress_id_ = ProgId(egress_fd());
}

BpfProgram::~BpfProgram() { nfr_tc__destroy(skel_); }

absl::StatusOr<std::unique_ptr<BpfProgram>> BpfProgram::Load() {
  InstallLibbpfLogger();
  nfr_tc* skel = nfr_tc__open();
  if (!skel) {
    return absl::InternalError(
        absl::StrCat("opening the embedded BPF object failed: ", strerror(errno)));
  }
  int err = nfr_tc__load(skel);
  if (err) {
    int e = -err;
    nfr_tc__destroy(skel);
    return absl::FailedPreconditionError(
        absl::StrCat("loading the tc BPF program failed: ", strerror(e),
                     e == EPERM || e == EACCES
                         ? "; run nfr-agent as root (needs CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)"
                         : "; the kernel needs BPF syscall + cls_bpf support (>= 6.1); run with "
                           "LIBBPF_LOG_LEVEL=debug for the verifier log"));
  }
  return std::unique_ptr<BpfProgram>(new BpfProgram(skel));
}

bpf_object* BpfProgram::object() const { return skel_->obj; }
int BpfProgram::ingress_fd() const { return bpf_program__fd(skel_->progs.nfr_ingress); }
int BpfProgram::egress_fd() const { return bpf_program__fd(skel_->progs.nfr_egress); }
int BpfProgram::probe_fd() const { return bpf_program__fd(skel_->progs.nfr_probe); }
int BpfProgram::config_fd() const { return bpf_map__fd(skel_->maps.nfr_config); }
int BpfProgram::flows_fd() const { return bpf_map__fd(skel_->maps.nfr_flows); }
int BpfProgram::sel_v4_fd() const { return bpf_map__fd(skel_->maps.nfr_sel_v4); }
int BpfProgram::sel_v6_fd() const { return bpf_map__fd(skel_->maps.nfr_sel_v6); }
int BpfProgram::sel_proto_fd() const { return bpf_map__fd(skel_->maps.nfr_sel_proto); }
int BpfProgram::sel_ports_fd() const { return bpf_map__fd(skel_->maps.nfr_sel_ports); }
int BpfProgram::ifaces_fd() const { return bpf_map__fd(skel_->maps.nfr_ifaces); }
int BpfProgram::stats_fd() const { return bpf_map__fd(skel_->maps.nfr_stats); }

}  // namespace nfr::datapath
