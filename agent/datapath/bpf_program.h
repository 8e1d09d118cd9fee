// Owns the loaded libbpf skeleton of bpf/nfr_tc.bpf.c and hands out program and map fds.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "nfr_abi.h"

struct nfr_tc;
struct bpf_object;

namespace nfr::datapath {

class PreviousMaps;

// Routes libbpf's log to stderr without the noise of expected netlink errors (idempotent).
void InstallLibbpfLogger();

// Map sizes fixed at load time.
struct BpfLoadOptions {
  uint32_t flows_max_entries = NFR_FLOWS_MAX;
  // Pinned maps of the previous agent to reuse where compatible (restart without amnesia).
  PreviousMaps* previous = nullptr;
};

class BpfProgram {
 public:
  // Opens and loads the embedded object; errors carry the verifier/libbpf reason.
  static absl::StatusOr<std::unique_ptr<BpfProgram>> Load(const BpfLoadOptions& options = {});
  ~BpfProgram();
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  bpf_object* object() const;
  int ingress_fd() const;
  int egress_fd() const;
  int probe_fd() const;
  int config_fd() const;
  int flows_fd() const;
  int sel_v4_fd() const;
  int sel_v6_fd() const;
  int sel_proto_fd() const;
  int sel_ports_fd() const;
  int ifaces_fd() const;
  int ifidx_fd() const;  // the array view of ifaces_fd() for small ifindexes
  int stats_fd() const;
  int budget_fd() const;
  uint32_t ingress_id() const { return ingress_id_; }
  uint32_t egress_id() const { return egress_id_; }

 private:
  explicit BpfProgram(nfr_tc* skel);
  nfr_tc* skel_;
  uint32_t ingress_id_ = 0;
  uint32_t egress_id_ = 0;
};

}  // namespace nfr::datapath
