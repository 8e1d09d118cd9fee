// The agent as the control core (agent/core) sees it: policy, pending
// connections, decisions and status. Implemented by runtime/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/policy/compiled_policy.h"
#include "nfr_abi.h"
#include "nfr/v1/flow.pb.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

// Receives verdict-engine events. Called from queue threads: must not block.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnPendingAdded(const nfr::v1::PendingConnection& pending) = 0;
  // The pending connection left the table; `decision` says why and how.
  virtual void OnPendingResolved(const nfr::v1::PendingConnection& pending,
                                 const nfr::v1::Decision& decision) = 0;
  // A flow decided without being pending (policy accept/drop).
  virtual void OnFlowDecided(const nfr::v1::Decision& decision) = 0;
};

struct DecideRequest {
  uint64_t pending_id = 0;
  nfr::v1::Verdict verdict = nfr::v1::VERDICT_UNSPECIFIED;
  nfr::v1::DecisionScope scope = nfr::v1::DECISION_SCOPE_ONCE;
  absl::Duration ttl = absl::ZeroDuration();  // FLOW scope; zero = policy TTL
  std::string decider;
  std::string reason;
  std::string rule_id;  // RULE scope: the rule added for this flow
  uint64_t decision_id = 0;  // the decision-log id reserved for it (the cache entry's origin)
};

// A pending connection that left the table, and the decision that took it.
struct Resolution {
  nfr::v1::PendingConnection pending;
  nfr::v1::Decision decision;  // not yet logged: no id
};

// A decided (ALLOW/DENY) flow-cache entry as the operator sees it.
struct CachedFlow {
  nfr_flow_key key{};
  nfr_flow_value value{};
  nfr::v1::Flow flow;  // the key's tuple, interface and direction
  absl::Time expires = absl::InfiniteFuture();
};

using FlowWanted = absl::FunctionRef<bool(const nfr_flow_key&, const nfr_flow_value&)>;

struct AgentCounters {
  // BPF per-CPU counters summed, indexed by enum nfr_stat.
  std::vector<uint64_t> bpf;
  uint64_t queued_packets = 0;
  uint64_t verdicts_accept = 0;
  uint64_t verdicts_drop = 0;
  uint64_t enobufs = 0;
  uint64_t pending_now = 0;
  uint64_t pending_expired = 0;
  uint64_t pending_overflow = 0;
  // Verdict engine.
  uint64_t engine_packets = 0;
  uint64_t parse_errors = 0;
  uint64_t engine_cache_hits = 0;
  uint64_t policy_accept = 0;
  uint64_t policy_drop = 0;
  uint64_t asked = 0;
  uint64_t controller_decisions = 0;
  uint64_t cache_errors = 0;
  uint64_t lookups_skipped = 0;
  uint64_t policy_decisions_unlogged = 0;
  std::vector<std::pair<std::string, uint64_t>> unlogged_by_rule;
};

// One NFQUEUE's counters; the kernel's only when kernel_stats.
struct QueueStatusInfo {
  uint32_t num = 0;
  bool fail_open = false;
  uint64_t received = 0, accepted = 0, dropped = 0, held = 0, enobufs = 0;
  bool kernel_stats = false;
  uint32_t waiting = 0;
  uint64_t queue_dropped = 0, user_dropped = 0;
};

struct AgentStatusInfo {
  std::string version;
  std::string mode;  // "native" or "compat"
  std::string kernel_capability;  // e.g. "tc_nf_redirect abi 1" or "none"
  std::string compat_backend;  // "iptables", "nftables" or ""
  std::vector<std::string> interfaces;
  std::vector<uint32_t> queues;
  std::vector<QueueStatusInfo> queue_status;
  absl::Time started;
  AgentCounters counters;
};

class AgentControl {
 public:
  virtual ~AgentControl() = default;

  virtual nfr::v1::Policy GetPolicy() const = 0;
  // The policy's rules and settings with its sets' prefixes left out: cheap with 1M-prefix sets.
  virtual nfr::v1::Policy GetPolicyRules() const = 0;
  // Validates, compiles and swaps in `policy` (version already assigned by
  // the caller). INVALID_ARGUMENT naming the field; nothing changes on error.
  virtual absl::Status InstallPolicy(const nfr::v1::Policy& policy) = 0;
  // Swaps in a policy already compiled (CompiledPolicy::Compile); cannot fail.
  virtual void InstallCompiled(std::shared_ptr<const CompiledPolicy> policy) = 0;
  // The installed version, without copying the policy.
  virtual uint64_t PolicyVersion() const = 0;

  virtual std::vector<nfr::v1::PendingConnection> ListPending() const = 0;
  virtual std::optional<nfr::v1::PendingConnection> FindPending(uint64_t id) const = 0;
  // Applies a valid verdict to a pending connection's held packets and the
  // flow cache. NOT_FOUND for unknown ids. The caller logs and publishes it.
  virtual absl::StatusOr<Resolution> Decide(const DecideRequest& request) = 0;

  // Every decided flow-cache entry (PENDING entries are in ListPending) that
  // `want` takes on its raw key and value (cheap: the record is built after).
  // Both run while the cache is read: they must not call back into the agent.
  virtual absl::Status ForEachFlow(FlowWanted want,
                                   absl::FunctionRef<void(const CachedFlow&)> fn) const = 0;
  // Forgets the entries (with the reply entry of an accepted UDP flow): the
  // next packet of each flow is decided again.
  virtual absl::Status ForgetFlows(absl::Span<const CachedFlow> flows) = 0;
  // Writes DENY, origin OPERATOR, decision id ids[i], over flows[i] (and the
  // reply entry of an accepted UDP flow) for the policy's flow TTL; returns that TTL.
  virtual absl::StatusOr<absl::Duration> DenyFlows(absl::Span<const CachedFlow> flows,
                                                   absl::Span<const uint64_t> ids) = 0;

  virtual AgentStatusInfo Status() const = 0;
};

}  // namespace nfr
