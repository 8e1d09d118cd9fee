// Compat mode's single agent-owned netfilter rule: queue packets carrying the compat mark to
// NFQUEUE with bypass, in PREROUTING for IPv4 and IPv6. nftables `queue` when the kernel has
// nft_queue, else iptables NFQUEUE (nft or legacy flavour, whichever works here). Bypass (default):
// with no agent bound, marked packets pass; without it they are dropped (fail closed while the
// agent is down). The queue layer clears the mark bit when it accepts a packet.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/datapath/xtables.h"
#include "nfr/v1/config.pb.h"

namespace nfr::datapath {

struct CompatRuleSpec {
  uint32_t mark = 0x01000000;
  uint32_t queue_num = 4200;
  uint32_t queue_count = 1;
  bool bypass = true;  // false: packets drop while no agent reads the queue
};

inline constexpr const char* kCompatComment = "nfr-agent";
inline constexpr const char* kCompatNftTable = "nfr_agent";

class CompatRule {
 public:
  // Tries the preferred backend(s) in order and keeps the first that installs cleanly. The
  // error lists every backend's failure.
  static absl::StatusOr<std::unique_ptr<CompatRule>> Install(const CompatRuleSpec& spec,
                                                             nfr::v1::CompatBackend backend);
  // One specific iptables flavour ("iptables-nft", "iptables-legacy"), both families.
  static absl::StatusOr<std::unique_ptr<CompatRule>> InstallIptables(const CompatRuleSpec& spec,
                                                                     const std::string& flavour);
  ~CompatRule();  // removes the rule
  CompatRule(const CompatRule&) = delete;
  CompatRule& operator=(const CompatRule&) = delete;

  // "nftables", "iptables-nft" or "iptables-legacy".
  const std::string& backend() const { return backend_; }
  absl::Status Remove();
  // Leaves the rule installed when this object goes (the next agent replaces it).
  void Keep() { undo_.clear(); }

 private:
  CompatRule(std::string backend, std::vector<std::vector<std::string>> undo)
      : backend_(std::move(backend)), undo_(std::move(undo)) {}
  std::string backend_;
  std::vector<std::vector<std::string>> undo_;  // argvs that delete what we added
};

// The nfr-agent rules (any backend) in this network namespace, as the commands that delete each
// one: found before the new rule goes in, removed after it, so a restart never has a moment
// without a queue rule (add before delete).
struct StaleCompatRules {
  std::vector<std::vector<std::string>> iptables;  // one -D argv per rule
  std::vector<std::string> nft_handles;            // rules in table inet nfr_agent
  bool nft_table = false;                          // that table exists
};
StaleCompatRules FindStaleCompatRules();
// Deletes what `stale` lists. `nft_table_in_use`: the new rule is in the nfr_agent table, so only
// the old rules go, else the whole table. Returns how many rules were removed.
int RemoveCompatRules(const StaleCompatRules& stale, bool nft_table_in_use);
// Both at once: leftovers of a crashed agent when no new rule is wanted.
int RemoveStaleCompatRules();

// argv building blocks, exposed for tests.
std::vector<std::string> IptablesRuleArgs(const CompatRuleSpec& spec);

}  // namespace nfr::datapath
