// Attaches the tc program to an interface hook (clsact qdisc + direct-action cls_bpf filter via
// libbpf's bpf_tc_*; libbpf 1.1 has no tcx) under a fixed handle/priority owned by nfr.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace nfr::datapath {

enum class TcDirection { kIngress, kEgress };

// Fixed cls_bpf filter identity, so a restarted agent replaces its predecessor's filter.
inline constexpr uint32_t kTcHandle = 0x6e66;  // "nf"
inline constexpr uint32_t kTcPriority = 1;

const char* TcDirectionName(TcDirection dir);

// Creates clsact if missing and installs prog_fd, replacing a previous nfr filter. Refuses to
// replace a filter at our handle/priority that belongs to another program.
absl::Status TcAttach(int ifindex, const std::string& ifname, TcDirection dir, int prog_fd);

// Removes our filter if it still runs a program named nfr_* (or exactly expect_prog_id when
// non-zero). Missing filter/qdisc/interface is not an error.
absl::Status TcDetach(int ifindex, TcDirection dir, uint32_t expect_prog_id = 0);

// Program id of the filter at our handle/priority, 0 when none.
uint32_t TcQueryProgId(int ifindex, TcDirection dir);

// Name of a loaded BPF program by id ("" if gone).
std::string BpfProgName(uint32_t prog_id);

}  // namespace nfr::datapath
