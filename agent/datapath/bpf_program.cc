#include "agent/datapath/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/datapath/map_adoption.h"
#include "agent/util/log.h"
#include "agent/util/process_caps.h"
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
  char line[1024];
  const int n = vsnprintf(line, sizeof(line), fmt, args);
  absl::string_view text(line, n < 0 ? 0 : std::min<size_t>(n, sizeof(line) - 1));
  absl::ConsumeSuffix(&text, "\n");
  LogLine(absl::StrCat("libbpf: ", text));
  return n;
}

// What to do about a refused load. EPERM, or EACCES without the capabilities, is about privilege;
// EACCES with them is the verifier's refusal, where "run as root" would mislead.
std::string LoadFailureHint(int e, const BpfLoadOptions& options) {
  const std::string missing = MissingCapabilities(kBpfLoadCapabilities);
  if (e == EPERM || (e == EACCES && !missing.empty())) {
    return absl::StrCat("; this process lacks ", missing.empty() ? "a needed privilege" : missing,
                        ": run nfr-agent as root or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN "
                        "(docs/security.md, least privilege)");
  }
  if (e == ENOMEM || e == E2BIG) {
    return absl::StrCat("; could not allocate nfr_flows with ", options.flows_max_entries,
                        " entries: lower flow_cache.max_entries or raise the memlock limit");
  }
  utsname uts = {};
  uname(&uts);
  return absl::StrCat(
      "; kernel ", uts.release,
      e == EACCES ? "'s verifier refused the program (its log is above)" : " refused it",
      "; the program needs Linux >= 6.1 with BPF syscall and cls_bpf support; run "
      "with NFR_LIBBPF_DEBUG=1 for libbpf's debug log");
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

absl::StatusOr<std::unique_ptr<BpfProgram>> BpfProgram::Load(const BpfLoadOptions& options) {
  InstallLibbpfLogger();
  nfr_tc* skel = nfr_tc__open();
  if (!skel) {
    return absl::InternalError(
        absl::StrCat("opening the embedded BPF object failed: ", strerror(errno)));
  }
  int err = bpf_map__set_max_entries(skel->maps.nfr_flows, options.flows_max_entries);
  if (err) {
    nfr_tc__destroy(skel);
    return absl::InvalidArgumentError(
        absl::StrCat("sizing BPF map nfr_flows to ", options.flows_max_entries,
                     " entries failed: ", strerror(-err)));
  }
  if (options.previous != nullptr) options.previous->AdoptInto(skel->obj);
  err = nfr_tc__load(skel);
  if (err) {
    int e = -err;
    nfr_tc__destroy(skel);
    return absl::FailedPreconditionError(absl::StrCat(
        "loading the tc BPF program failed: ", strerror(e), LoadFailureHint(e, options)));
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
int BpfProgram::ifidx_fd() const { return bpf_map__fd(skel_->maps.nfr_ifidx); }
int BpfProgram::stats_fd() const { return bpf_map__fd(skel_->maps.nfr_stats); }
int BpfProgram::budget_fd() const { return bpf_map__fd(skel_->maps.nfr_budget); }

}  // namespace nfr::datapath
