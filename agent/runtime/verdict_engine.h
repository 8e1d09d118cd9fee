// The verdict engine: for each queued packet, parse, consult the BPF flow
// cache, join a pending flow or evaluate the policy; holds ASK flows in the
// pending table until a controller decides or the deadline passes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/packet/packet_parser.h"
#include "agent/pending/pending_table.h"
#include "agent/policy/compiled_policy.h"
#include "agent/queue/packet_queue.h"
#include "agent/queue/verdict_sender.h"
#include "agent/runtime/agent_control.h"
#include "agent/runtime/decision_sampler.h"
#include "agent/runtime/interface_names.h"
#include "agent/runtime/recent_flow_writes.h"
#include "agent/datapath/verdict_cache.h"

namespace nfr {

struct EngineCounters {
  uint64_t packets = 0;       // handed to the engine
  uint64_t parse_errors = 0;  // unparseable: the default verdict
  uint64_t cache_hits = 0;    // decided by an existing flow-cache entry
  uint64_t policy_accept = 0;
  uint64_t policy_drop = 0;
  uint64_t asked = 0;  // new pending connections
  uint64_t controller_decisions = 0;
  uint64_t cache_errors = 0;  // flow-cache writes that failed
  uint64_t lookups_skipped = 0;  // policy decisions made without a flow-cache lookup syscall
  uint64_t unlogged_decisions = 0;  // policy decisions counted per rule, not logged one by one
};

// Who decided a flow, as its cache entry remembers it (bpf/nfr_abi.h).
struct FlowOrigin {
  nfr_flow_value value{};  // origin, rule, origin_id, direction, ifindex
};

class VerdictEngine : public PacketHandler {
 public:
  // Policy decisions beyond `policy_records_per_second` are counted per rule, not recorded.
  VerdictEngine(std::shared_ptr<const CompiledPolicy> policy, PendingLimits limits,
                EventSink* sink,
                uint32_t policy_records_per_second = kDefaultPolicyRecordsPerSecond);

  // Wiring; cache may be set to null (shutdown), the sender must outlive use.
  void SetCache(VerdictCache* cache);
  void SetSender(HeldVerdictSender* sender);
  // Called when a new pending entry may move the next deadline earlier.
  void SetPendingAddedHook(std::function<void()> hook) { on_added_ = std::move(hook); }

  // Flow-cache writes of a batched packet (QueuedPacket::batched) wait for OnBatchEnd: one
  // batch syscall per receive batch instead of one or two per flow.
  QueueAction OnPacket(const QueuedPacket& packet) override;
  void OnBatchEnd() override;

  // Swaps the policy in, then re-evaluates cached flows and pending connections.
  absl::Status InstallPolicy(const nfr::v1::Policy& policy);
  void InstallCompiled(std::shared_ptr<const CompiledPolicy> compiled);

  // Every cached flow the policy decided is matched against the current policy
  // (a changed verdict is written, an ASK deletes the entry); a controller's
  // accept is revoked only by a DROP rule; pending connections the policy now
  // decides are resolved (source POLICY).
  struct Reevaluation {
    size_t flows_scanned = 0, flows_changed = 0, flows_deleted = 0;
    size_t pending_scanned = 0, pending_resolved = 0;
    absl::Duration took;
  };
  Reevaluation Reevaluate();
  nfr::v1::Policy GetPolicy() const { return policy_.Get()->FullPolicy(); }
  nfr::v1::Policy GetPolicyRules() const { return policy_.Get()->policy(); }
  uint64_t policy_version() const { return policy_.Get()->version(); }
  absl::Duration pending_timeout() const { return policy_.Get()->pending_timeout(); }
  nfr::v1::Verdict default_verdict() const { return policy_.Get()->default_verdict(); }
  std::vector<nfr::v1::PendingConnection> ListPending() const { return pending_.Snapshot(); }
  std::optional<nfr::v1::PendingConnection> FindPending(uint64_t id) const {
    return pending_.Get(id);
  }
  // A controller's verdict; the sink is not told (the caller logs and publishes).
  absl::StatusOr<Resolution> Decide(const DecideRequest& request);

  // The operator's view and edits of the flow cache (AgentControl); the caller logs.
  absl::Status ForEachFlow(FlowWanted want, absl::FunctionRef<void(const CachedFlow&)> fn) const;
  absl::Status ForgetFlows(absl::Span<const CachedFlow> flows);
  absl::StatusOr<absl::Duration> DenyFlows(absl::Span<const CachedFlow> flows,
                                           absl::Span<const uint64_t> ids);
  // Names an interface ahead of its first packet.
  void NameInterface(uint32_t ifindex, std::string name) {
    names_.Remember(ifindex, std::move(name));
  }

  // Applies the default verdict to every entry past its deadline.
  void ExpireDue(absl::Time now);
  std::optional<absl::Time> NextDeadline() const { return pending_.NextDeadline(); }
  // Shutdown: every held packet gets the default verdict.
  void ResolveAll(absl::string_view why);

  EngineCounters counters() const;
  // Policy decisions not logged one by one, per rule id ("" = the default verdict).
  std::vector<std::pair<std::string, uint64_t>> UnloggedByRule() const {
    return sampler_.UnloggedByRule();
  }
  PendingTable::Counters pending_counters() const { return pending_.counters(); }
  size_t pending_size() const { return pending_.size(); }

 private:
  struct Batch;  // per queue thread: staged writes, unlogged counts, interface name
  Batch* BatchOf(const QueuedPacket& q);
  static Batch& ThreadBatch();
  QueueAction Evaluate(const QueuedPacket& q, const PacketInfo& p);
  // ALLOW/DENY already written for `key` (cache hit), from the batch or the map.
  // The verdict we wrote for key, if any; with `replies`, only one that covers its replies.
  std::optional<QueueAction> Written(const nfr_flow_key& key, Batch* batch, bool replies = false);
  void FlushBatch(Batch& batch);     // both of:
  void FlushWrites(Batch& batch);    // the staged flow-cache writes (one SetFlows)
  void FlushUnlogged(Batch& batch);  // the per-rule counts of unrecorded decisions
  void ApplyToHeld(const std::vector<PacketRef>& packets, bool accept);
  void CacheVerdict(const nfr_flow_key& key, const nfr_flow_value& value, absl::Duration ttl);
  // ALLOW/DENY for `key`; an accepted UDP flow also allows its replies.
  void CacheDecision(const nfr_flow_key& key, bool accept, absl::Duration ttl,
                     const FlowOrigin& origin, Batch* batch = nullptr);
  // The reply entry of an accepted UDP flow (reverse 5-tuple, NFR_FLOW_F_REPLY).
  static nfr_flow_value ReplyValue(const FlowOrigin& origin);
  void CacheReply(const nfr_flow_key& key, const FlowOrigin& origin, absl::Duration ttl);
  FlowOrigin OriginOf(nfr_origin kind, uint32_t rule, uint64_t id, nfr::v1::Direction direction,
                      uint32_t ifindex);
  // For a flow known only by its record (pending, decided later): looks the interface up.
  FlowOrigin OriginOf(nfr_origin kind, uint32_t rule, uint64_t id, const nfr::v1::Flow& flow);
  void CacheDelete(const nfr_flow_key& key);
  std::optional<nfr_flow_value> CacheLookup(const nfr_flow_key& key);
  // `flows` keys plus the reply entries of accepted UDP flows among them (as cached now).
  void WithReplies(absl::Span<const CachedFlow> flows, std::vector<nfr_flow_key>* keys,
                   std::vector<nfr_flow_value>* values, std::vector<size_t>* of)
      ABSL_SHARED_LOCKS_REQUIRED(cache_mu_);

  PolicyHolder policy_;
  RecentFlowWrites recent_{1u << 18, 500};
  DecisionSampler sampler_;
  PendingTable pending_;
  EventSink* const sink_;
  mutable InterfaceNames names_;
  std::function<void()> on_added_;

  mutable absl::Mutex cache_mu_;
  VerdictCache* cache_ ABSL_GUARDED_BY(cache_mu_) = nullptr;
  // Reader lock while sending, so SetSender(nullptr) waits for sends in flight.
  mutable absl::Mutex sender_mu_;
  HeldVerdictSender* sender_ ABSL_GUARDED_BY(sender_mu_) = nullptr;

  std::atomic<uint64_t> packets_{0}, parse_errors_{0}, cache_hits_{0}, policy_accept_{0},
      policy_drop_{0}, asked_{0}, controller_decisions_{0}, cache_errors_{0},
      lookups_skipped_{0};
};

// "ingress" / "egress" from the NFQUEUE hook number (0 and 6 ingress, 7 egress).
nfr::v1::Direction DirectionOfHook(uint8_t hook);

}  // namespace nfr
