// The agent's kernel datapath: loads and pins the tc BPF program, owns the pin dir, attaches to
// interfaces, picks native or compat mode, and exposes the flow cache, selection and counters.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "nfr/v1/config.pb.h"
#include "nfr_abi.h"

namespace nfr {

struct KernelCapability {
  bool sysctl_present = false;
  int abi_version = 0;
  bool test_run_redirect = false;
  bool native() const;
  std::string Reason() const;    // why native or not, e.g. "kernel lacks tc_nf_redirect"
  std::string Describe() const;  // "native (...)" / "compat only (...)"
};

// sysctl + BPF_PROG_TEST_RUN of nfr_probe (loads the program; needs root).
KernelCapability ProbeKernelCapability();

struct DatapathStatus {
  std::string mode;  // "native" | "compat"
  KernelCapability capability;
  std::string compat_backend;           // "" in native mode
  std::vector<std::string> interfaces;  // "r-cli", "eth0:egress" (ingress always)
};

namespace datapath {
class BpfProgram;
class OwnershipLock;
class CompatRule;
class SelectionWriter;
class FlowCache;
struct Attachment;
}  // namespace datapath

class Datapath {
 public:
  // config has defaults applied (agent/config). Loads the skeleton, mounts bpffs if needed,
  // takes the ownership lock for the pin dir (FAILED_PRECONDITION naming the other agent's pid
  // if held), cleans stale pins/attachments/compat rule left by a crashed agent, pins maps,
  // decides mode, fills nfr_config/selection/iface maps, attaches, and installs the compat rule
  // (compat) or loads kmod nfr_redirect (native).
  static absl::StatusOr<std::unique_ptr<Datapath>> Start(const nfr::v1::AgentConfig& config);
  // Detaches, removes the compat rule and releases the lock. Keeps the maps pinned for the next
  // agent (restart.keep_flow_cache) and, with restart.fail_closed_while_down, leaves the program
  // and the queue rule in place.
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  bool native() const { return native_; }
  DatapathStatus status() const;
  // The nfr_flows map (thread-safe; batch calls for re-evaluation and the flows API).
  datapath::FlowCache& flows() { return *flows_; }
  uint32_t flow_cache_capacity() const { return flows_max_entries_; }

  // The policy's default verdict, applied in the kernel to new flows over their source's
  // budget. Call on every policy change (Start uses config.policy().default_verdict()).
  absl::Status SetDefaultVerdict(bool drop);
  absl::Status UpdateSelection(const nfr::v1::SelectionConfig& selection);
  // Lifetime of the pending entries the program inserts: the agent's pending timeout plus a
  // margin. Call when the policy's pending_timeout_ms changes (Start uses the config's).
  absl::Status SetPendingTimeout(absl::Duration timeout);
  std::vector<uint64_t> ReadStats() const;  // per-CPU summed, size NFR_STAT_MAX

  const std::string& pin_dir() const { return pin_dir_; }
  // Pinned maps of the previous agent this one reuses ("nfr_flows", ...); empty on a fresh start.
  const std::vector<std::string>& adopted_maps() const { return adopted_; }

 private:
  Datapath();
  absl::Status Init(const nfr::v1::AgentConfig& config);
  absl::Status WriteConfig(uint32_t flags);
  uint32_t Flags(uint32_t selection_flags) const;
  void SaveRunState();

  std::string pin_dir_;
  std::string run_dir_;
  bool native_ = false;
  bool pinned_ = false;
  bool started_ = false;
  bool keep_flow_cache_ = true;
  bool fail_closed_while_down_ = false;
  std::vector<std::string> adopted_;
  uint32_t base_flags_ = 0;       // NFR_CFG_FAIL_CLOSED
  uint32_t selection_flags_ = 0;  // NFR_CFG_*_FILTER of the current selection
  bool default_drop_ = true;
  uint32_t flows_max_entries_ = NFR_FLOWS_MAX;
  nfr_config cfg_ = {};
  KernelCapability capability_;
  std::vector<std::string> interface_names_;
  std::unique_ptr<datapath::OwnershipLock> lock_;
  std::unique_ptr<datapath::BpfProgram> prog_;
  std::unique_ptr<datapath::FlowCache> flows_;
  std::unique_ptr<datapath::CompatRule> compat_;
  std::unique_ptr<datapath::SelectionWriter> selection_;
  std::vector<datapath::Attachment> attached_;
  mutable std::mutex mu_;  // selection/config writes
};

}  // namespace nfr
