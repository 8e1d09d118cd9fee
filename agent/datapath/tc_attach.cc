#include "agent/datapath/tc_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace nfr::datapath {
namespace {

bpf_tc_attach_point AttachPoint(TcDirection dir) {
  return dir == TcDirection::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

std::string Hint(int e) {
  if (e == EPERM || e == EACCES) return "; run nfr-agent as root (needs CAP_NET_ADMIN, CAP_BPF)";
  if (e == ENODEV || e == ENXIO) return "; the interface disappeared, check `ip link`";
  return "";
}

}  // namespace

const char* TcDirectionName(TcDirection dir) {
  return dir == TcDirection::kIngress ? "ingress" : "egress";
}

std::string BpfProgName(uint32_t prog_id) {
  int fd = bpf_prog_get_fd_by_id(prog_id);
  if (fd < 0) return "";
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  close(fd);
  return name;
}

uint32_t TcQueryProgId(int ifindex, TcDirection dir) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = AttachPoint(dir));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (bpf_tc_query(&hook, &opts) != 0) return 0;
  return opts.prog_id;
}

absl::Status TcAttach(int ifindex, const std::string& ifname, TcDirection dir, int prog_fd) {
  const char* where = TcDirectionName(dir);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = AttachPoint(dir));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("creating clsact qdisc on ", ifname, " failed: ", strerror(-err), Hint(-err)));
  }
  if (uint32_t old = TcQueryProgId(ifindex, dir); old != 0) {
    std::string name = BpfProgName(old);
    if (!absl::StartsWith(name, "nfr_")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tc ", where, " filter handle 0x", absl::Hex(kTcHandle), " prio ", kTcPriority, " on ",
          ifname, " is used by BPF program '", name, "' (id ", old,
          "), not nfr; remove it: tc filter del dev ", ifname, " ", where, " prio ", kTcPriority));
    }
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err) {
    return absl::FailedPreconditionError(absl::StrCat(
        "attaching tc ", where, " program to ", ifname, " failed: ", strerror(-err), Hint(-err)));
  }
  return absl::OkStatus();
}

absl::Status TcDetach(int ifindex, TcDirection dir, uint32_t expect_prog_id) {
  uint32_t id = TcQueryProgId(ifindex, dir);
  if (id == 0) return absl::OkStatus();
  if (expect_prog_id != 0 ? id != expect_prog_id : !absl::StartsWith(BpfProgName(id), "nfr_")) {
    return absl::OkStatus();  // someone else's filter now: leave it
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = AttachPoint(dir));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    return absl::InternalError(absl::StrCat("detaching tc ", TcDirectionName(dir),
                                            " filter from ifindex ", ifindex,
                                            " failed: ", strerror(-err), Hint(-err)));
  }
  return absl::OkStatus();
}

}  // namespace nfr::datapath
