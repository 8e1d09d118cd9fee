#include "agent/runtime/verdict_engine.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/datapath/flow_cache.h"
#include "agent/packet/flow_key.h"
#include "agent/util/log.h"
#include "agent/util/log_budget.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

const char* VerdictWord(bool accept) { return accept ? "accept" : "drop"; }

const char* DirectionWord(nfr::v1::Direction d) {
  return d == nfr::v1::DIRECTION_EGRESS ? "egress" : "ingress";
}

std::string Where(const nfr::v1::Flow& flow) {
  return absl::StrCat(DescribeFlow(flow), " dev ", flow.interface(), " ",
                      DirectionWord(flow.direction()));
}

nfr::v1::Decision MakeDecision(const nfr::v1::Flow& flow, bool accept, nfr::v1::DecisionScope scope,
                               nfr::v1::DecisionSource source, absl::Duration ttl,
                               const std::string& rule_id, uint64_t pending_id) {
  nfr::v1::Decision d;
  *d.mutable_time() = ToProtoTime(absl::Now());
  *d.mutable_flow() = flow;
  d.set_verdict(accept ? nfr::v1::VERDICT_ACCEPT : nfr::v1::VERDICT_DROP);
  d.set_scope(scope);
  d.set_source(source);
  d.set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(ttl)));
  d.set_rule_id(rule_id);
  d.set_pending_id(pending_id);
  return d;
}

bool DefaultAccepts(const CompiledPolicy& policy) {
  return policy.default_verdict() == nfr::v1::VERDICT_ACCEPT;
}

}  // namespace

nfr::v1::Direction DirectionOfHook(uint8_t hook) {
  return hook == NFR_HOOK_REDIRECT_EGRESS ? nfr::v1::DIRECTION_EGRESS : nfr::v1::DIRECTION_INGRESS;
}

VerdictEngine::VerdictEngine(std::shared_ptr<const CompiledPolicy> policy, PendingLimits limits,
                             EventSink* sink, uint32_t policy_records_per_second)
    : policy_(std::move(policy)),
      sampler_(policy_records_per_second),
      pending_(limits),
      sink_(sink) {}

void VerdictEngine::SetCache(VerdictCache* cache) {
  absl::MutexLock lock(&cache_mu_);
  cache_ = cache;
}

void VerdictEngine::SetSender(HeldVerdictSender* sender) {
  absl::MutexLock lock(&sender_mu_);
  sender_ = sender;
}

// Per queue thread, between two OnBatchEnd calls.
struct VerdictEngine::Batch {
  const VerdictEngine* owner = nullptr;
  std::vector<nfr_flow_key> keys;  // staged flow-cache writes
  std::vector<nfr_flow_value> values;
  std::vector<absl::Duration> ttls;
  std::shared_ptr<const CompiledPolicy> staged_policy;  // the policy that decided them
  // Policy decisions only counted, per rule index of `counted_policy`.
  std::shared_ptr<const CompiledPolicy> counted_policy;
  std::vector<std::pair<int, uint64_t>> unlogged;
  // The policy this batch decides with (read once per batch: no shared refcount per packet).
  std::shared_ptr<const CompiledPolicy> policy;
  // Counters, added to the engine's at the end of the batch (no shared cache line per packet).
  uint64_t packets = 0, accepted = 0, dropped = 0, skipped = 0;
  // The last interface name looked up in this batch.
  uint32_t name_ifindex = 0;
  std::string name;
  bool name_valid = false;

  // With `replies`, only an entry whose verdict covers its replies counts.
  std::optional<QueueAction> Staged(const nfr_flow_key& key, bool replies = false) const {
    for (size_t i = keys.size(); i-- > 0;) {
      if (std::memcmp(&keys[i], &key, sizeof(key)) == 0) {
        if (replies && !(values[i].flags & NFR_FLOW_F_REPLIES)) return std::nullopt;
        return values[i].verdict == NFR_VERDICT_ALLOW ? QueueAction::kAccept : QueueAction::kDrop;
      }
    }
    return std::nullopt;
  }
};

VerdictEngine::Batch& VerdictEngine::ThreadBatch() {
  static thread_local Batch batch;
  return batch;
}

VerdictEngine::Batch* VerdictEngine::BatchOf(const QueuedPacket& q) {
  if (!q.batched) return nullptr;
  Batch& b = ThreadBatch();
  if (b.owner != this) {
    b = Batch();
    b.owner = this;
  }
  return &b;
}

void VerdictEngine::OnBatchEnd() {
  Batch& b = ThreadBatch();
  if (b.owner != this) return;
  FlushBatch(b);
  b.policy.reset();
  if (b.packets) packets_ += std::exchange(b.packets, 0);
  if (b.accepted) policy_accept_ += std::exchange(b.accepted, 0);
  if (b.dropped) policy_drop_ += std::exchange(b.dropped, 0);
  if (b.skipped) lookups_skipped_ += std::exchange(b.skipped, 0);
  b.name_valid = false;  // names are re-read once per batch
  sampler_.MaybeReport();
}

void VerdictEngine::FlushBatch(Batch& b) {
  FlushWrites(b);
  FlushUnlogged(b);
}

void VerdictEngine::FlushWrites(Batch& b) {
  if (!b.keys.empty()) {
    // A policy installed meanwhile has re-evaluated the cache already: decisions of the old one
    // are not written (the flows' packets come up again and meet the new policy).
    if (b.staged_policy == policy_.Get()) {
      absl::ReaderMutexLock lock(&cache_mu_);
      if (cache_ != nullptr && !cache_->SetFlows(b.keys, b.values, b.ttls).ok()) {
        cache_errors_ += b.keys.size();
      }
    }
    b.keys.clear();
    b.values.clear();
    b.ttls.clear();
  }
  b.staged_policy.reset();
}

void VerdictEngine::FlushUnlogged(Batch& b) {
  if (!b.unlogged.empty()) {
    for (const auto& [rule, n] : b.unlogged) {
      sampler_.CountUnlogged(b.counted_policy->rule_id(rule), n);
    }
    b.unlogged.clear();
  }
  b.counted_policy.reset();
}

void VerdictEngine::CacheVerdict(const nfr_flow_key& key, const nfr_flow_value& value,
                                 absl::Duration ttl) {
  // Noted before the write: a packet that passed the program before it must look it up.
  if (value.verdict == NFR_VERDICT_ALLOW || value.verdict == NFR_VERDICT_DENY) recent_.Note(key);
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return;
  if (!cache_->SetFlow(key, value, ttl).ok()) ++cache_errors_;
}

void VerdictEngine::CacheDecision(const nfr_flow_key& key, bool accept, absl::Duration ttl,
                                  const FlowOrigin& origin, Batch* batch) {
  nfr_flow_value v = origin.value;
  v.verdict = accept ? NFR_VERDICT_ALLOW : NFR_VERDICT_DENY;
  // An accepted UDP flow's entry also lets its replies through (the program looks up the
  // reversed key): one map write per flow instead of a second entry for the reply key.
  v.flags = accept && key.proto == IPPROTO_UDP ? NFR_FLOW_F_REPLIES : 0;
  if (batch == nullptr) return CacheVerdict(key, v, ttl);
  recent_.Note(key);
  batch->keys.push_back(key);
  batch->values.push_back(v);
  batch->ttls.push_back(ttl);
}

nfr_flow_value VerdictEngine::ReplyValue(const FlowOrigin& origin) {
  // UDP replies look like new flows to the program (both directions, egress
  // flows' replies at ingress too): an ALLOW entry on the reverse 5-tuple.
  nfr_flow_value v = origin.value;
  v.verdict = NFR_VERDICT_ALLOW;
  v.flags = NFR_FLOW_F_REPLY;
  v.direction = v.direction == NFR_DIR_EGRESS ? NFR_DIR_INGRESS : NFR_DIR_EGRESS;
  return v;
}

void VerdictEngine::CacheReply(const nfr_flow_key& key, const FlowOrigin& origin,
                               absl::Duration ttl) {
  CacheVerdict(ReverseFlowKey(key), ReplyValue(origin), ttl);
}

FlowOrigin VerdictEngine::OriginOf(nfr_origin kind, uint32_t rule, uint64_t id,
                                   nfr::v1::Direction direction, uint32_t ifindex) {
  FlowOrigin o;
  o.value.origin = static_cast<uint8_t>(kind);
  o.value.rule = rule;
  o.value.origin_id = id;
  o.value.direction = direction == nfr::v1::DIRECTION_EGRESS ? NFR_DIR_EGRESS : NFR_DIR_INGRESS;
  o.value.ifindex = ifindex;
  return o;
}

FlowOrigin VerdictEngine::OriginOf(nfr_origin kind, uint32_t rule, uint64_t id,
                                   const nfr::v1::Flow& flow) {
  return OriginOf(kind, rule, id, flow.direction(), names_.IndexOf(flow.interface()));
}

void VerdictEngine::CacheDelete(const nfr_flow_key& key) {
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return;
  if (!cache_->DeleteFlow(key).ok()) ++cache_errors_;
}

std::optional<nfr_flow_value> VerdictEngine::CacheLookup(const nfr_flow_key& key) {
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return std::nullopt;
  return cache_->LookupFlow(key);
}

void VerdictEngine::ApplyToHeld(const std::vector<PacketRef>& packets, bool accept) {
  absl::ReaderMutexLock lock(&sender_mu_);
  if (sender_ == nullptr) return;
  for (const auto& p : packets) (void)sender_->SendVerdict(p.queue, p.id, accept);
}

QueueAction VerdictEngine::OnPacket(const QueuedPacket& q) {
  if (q.batched) {
    ++BatchOf(q)->packets;
  } else {
    ++packets_;
  }
  auto info = ParsePacket(q.payload);
  if (!info.ok()) {
    // The tc program parsed it, we cannot: the policy's default verdict applies.
    const bool accept = DefaultAccepts(*policy_.Get());
    if (parse_errors_++ < 10) {
      LogLine(absl::StrCat("nfr-agent: queue ", q.queue, " packet ", q.id, " unparseable (",
                           info.status().message(), "): default verdict ", VerdictWord(accept)));
    }
    return accept ? QueueAction::kAccept : QueueAction::kDrop;
  }
  return Evaluate(q, *info);
}

std::optional<QueueAction> VerdictEngine::Written(const nfr_flow_key& key, Batch* batch,
                                                  bool replies) {
  if (batch != nullptr) {
    if (auto staged = batch->Staged(key, replies); staged.has_value()) return staged;
  }
  if (auto cached = CacheLookup(key); cached.has_value()) {
    if (replies && !(cached->flags & NFR_FLOW_F_REPLIES)) return std::nullopt;
    if (cached->verdict == NFR_VERDICT_ALLOW) return QueueAction::kAccept;
    if (cached->verdict == NFR_VERDICT_DENY) return QueueAction::kDrop;
  }
  return std::nullopt;
}

QueueAction VerdictEngine::Evaluate(const QueuedPacket& q, const PacketInfo& p) {
  const nfr_flow_key key = FlowKeyOf(p);
  const PacketRef ref{q.queue, q.id};
  Batch* const batch = BatchOf(q);

  // 1. Decided since this packet passed the tc program (it found no verdict there). Only a
  // write of ours can have put one in, so keys we have not written lately need no lookup.
  const bool looked_up = recent_.MaybeWritten(key);
  if (looked_up) {
    if (auto written = Written(key, batch); written.has_value()) {
      ++cache_hits_;
      return *written;
    }
  }
  // A UDP answer to a flow whose entry covers its replies (NFR_FLOW_F_REPLIES), as in the program.
  if (key.proto == IPPROTO_UDP) {
    const nfr_flow_key forward = ReverseFlowKey(key);
    if (recent_.MaybeWritten(forward)) {
      if (auto written = Written(forward, batch, /*replies=*/true); written.has_value()) {
        ++cache_hits_;
        return *written;
      }
    }
  }

  std::shared_ptr<const CompiledPolicy> unbatched;
  if (batch != nullptr && batch->policy == nullptr) batch->policy = policy_.Get();
  if (batch == nullptr) unbatched = policy_.Get();
  const std::shared_ptr<const CompiledPolicy>& policy =
      batch != nullptr ? batch->policy : unbatched;
  // 2. A flow already waiting for a decision: hold this packet with it.
  const auto joined = pending_.Join(key, ref);
  if (joined.outcome == PendingTable::Outcome::kJoined) return QueueAction::kHold;
  if (joined.outcome == PendingTable::Outcome::kPacketLimit) {
    return DefaultAccepts(*policy) ? QueueAction::kAccept : QueueAction::kDrop;
  }

  // 3. The policy.
  const nfr::v1::Direction direction = DirectionOfHook(q.hook);
  const uint32_t ifindex = direction == nfr::v1::DIRECTION_EGRESS ? q.out_ifindex : q.in_ifindex;
  std::string name;
  const std::string* iface = &name;
  if (batch != nullptr) {
    if (!batch->name_valid || batch->name_ifindex != ifindex) {
      batch->name = names_.NameOf(ifindex);
      batch->name_ifindex = ifindex;
      batch->name_valid = true;
    }
    iface = &batch->name;
  } else {
    name = names_.NameOf(ifindex);
  }
  const RuleHit hit = policy->Hit(p, *iface, direction);

  if (hit.action == nfr::v1::ACTION_ACCEPT || hit.action == nfr::v1::ACTION_DROP) {
    const bool accept = hit.action == nfr::v1::ACTION_ACCEPT;
    if (!looked_up && batch != nullptr) ++batch->skipped;
    if (!looked_up && batch == nullptr) ++lookups_skipped_;
    if (batch != nullptr && batch->staged_policy != policy) {
      FlushWrites(*batch);  // one policy per staged batch
      batch->staged_policy = policy;
    }
    CacheDecision(key, accept, hit.ttl,
                  OriginOf(NFR_ORIGIN_POLICY, static_cast<uint32_t>(hit.rule_index + 1),
                           policy->policy().version(), direction, ifindex),
                  batch);
    if (batch != nullptr) {
      ++(accept ? batch->accepted : batch->dropped);
    } else {
      ++(accept ? policy_accept_ : policy_drop_);
    }
    if (sink_ == nullptr) return accept ? QueueAction::kAccept : QueueAction::kDrop;
    if (sampler_.Take()) {
      // A record of its own (a bounded stream: see DecisionSampler).
      const nfr::v1::Flow flow = FlowOf(p, *iface, direction);
      const std::string rule_id(policy->rule_id(hit.rule_index));
      static LogBudget lines(100, [](uint64_t n) {
        LogLine(absl::StrCat("nfr-agent: ", n, " policy decisions not logged (over 100 lines/s)"));
      });
      if (lines.Allow()) LogLine(absl::StrCat(
          "decision ", VerdictWord(accept), " ", Where(flow), " (",
          rule_id.empty() ? "default verdict" : absl::StrCat("rule ", rule_id), ")"));
      sink_->OnFlowDecided(MakeDecision(flow, accept, nfr::v1::DECISION_SCOPE_FLOW,
                                        nfr::v1::DECISION_SOURCE_POLICY, hit.ttl, rule_id, 0));
    } else if (batch != nullptr) {
      if (batch->counted_policy != policy) {
        FlushUnlogged(*batch);  // the staged writes stay for the end of the batch
        batch->counted_policy = policy;
      }
      auto it = std::find_if(batch->unlogged.begin(), batch->unlogged.end(),
                             [&](const auto& e) { return e.first == hit.rule_index; });
      if (it == batch->unlogged.end()) {
        batch->unlogged.emplace_back(hit.rule_index, 1);
      } else {
        ++it->second;
      }
    } else {
      sampler_.CountUnlogged(policy->rule_id(hit.rule_index), 1);
    }
    return accept ? QueueAction::kAccept : QueueAction::kDrop;
  }

  // An ASK flow may have been decided by a controller meanwhile: always look it up.
  if (!looked_up) {
    if (auto written = Written(key, batch); written.has_value()) {
      ++cache_hits_;
      return *written;
    }
  }
  const nfr::v1::Flow flow = FlowOf(p, *iface, direction);
  const PolicyMatch match{hit.action, std::string(policy->rule_id(hit.rule_index)), hit.ttl,
                          hit.rule_index};

  // 4. ASK: hold the flow for a controller.
  const absl::Duration timeout = policy->pending_timeout();
  const auto added = pending_.Add(key, ref, flow, match.rule_id, absl::Now(), timeout);
  switch (added.outcome) {
    case PendingTable::Outcome::kAdded:
      ++asked_;
      // Keep later packets of this flow coming up until the deadline.
      {
        nfr_flow_value v = OriginOf(NFR_ORIGIN_NONE, 0, 0, direction, ifindex).value;
        v.verdict = NFR_VERDICT_PENDING;
        CacheVerdict(key, v, timeout + absl::Seconds(1));
      }
      LogLine(absl::StrCat("pending ", added.id, " ", Where(flow), " (rule ", match.rule_id,
                           "), default ", VerdictWord(DefaultAccepts(*policy)), " in ",
                           absl::FormatDuration(timeout)));
      if (sink_ != nullptr) sink_->OnPendingAdded(added.added);
      if (on_added_) on_added_();
      return QueueAction::kHold;
    case PendingTable::Outcome::kJoined:
      return QueueAction::kHold;
    case PendingTable::Outcome::kTableFull: {
      const bool accept = DefaultAccepts(*policy);
      static LogBudget full_lines(10, [](uint64_t n) {
        LogLine(absl::StrCat("nfr-agent: ", n, " more flows got the default verdict (pending table full)"));
      });
      if (full_lines.Allow()) {
        LogLine(absl::StrCat("decision ", VerdictWord(accept), " ", Where(flow),
                             " (pending table full, default verdict)"));
      }
      if (sink_ != nullptr) {
        sink_->OnFlowDecided(MakeDecision(flow, accept, nfr::v1::DECISION_SCOPE_ONCE,
                                          nfr::v1::DECISION_SOURCE_OVERFLOW, absl::ZeroDuration(),
                                          match.rule_id, 0));
      }
      return accept ? QueueAction::kAccept : QueueAction::kDrop;
    }
    default:
      return DefaultAccepts(*policy) ? QueueAction::kAccept : QueueAction::kDrop;
  }
}

absl::Status VerdictEngine::InstallPolicy(const nfr::v1::Policy& policy) {
  auto compiled = CompiledPolicy::Compile(policy);
  if (!compiled.ok()) return compiled.status();
  InstallCompiled(*std::move(compiled));
  return absl::OkStatus();
}

void VerdictEngine::InstallCompiled(std::shared_ptr<const CompiledPolicy> compiled) {
  const nfr::v1::Policy& policy = compiled->policy();
  policy_.Set(compiled);
  LogLine(absl::StrCat("nfr-agent: policy version ", policy.version(), " installed (",
                       policy.rules_size(), " rules, default ",
                       policy.default_verdict() == nfr::v1::VERDICT_ACCEPT ? "accept" : "drop",
                       ")"));
  const Reevaluation r = Reevaluate();
  if (r.flows_scanned + r.pending_scanned > 0) {
    LogLine(absl::StrCat("nfr-agent: policy version ", policy.version(), " re-evaluated ",
                         r.flows_scanned, " cached flows (", r.flows_changed, " changed, ",
                         r.flows_deleted, " asked again) and ", r.pending_scanned, " pending (",
                         r.pending_resolved, " resolved) in ", absl::FormatDuration(r.took)));
  }
}

absl::StatusOr<Resolution> VerdictEngine::Decide(const DecideRequest& r) {
  if (r.verdict != nfr::v1::VERDICT_ACCEPT && r.verdict != nfr::v1::VERDICT_DROP) {
    return absl::InvalidArgumentError("verdict: use VERDICT_ACCEPT or VERDICT_DROP");
  }
  if (r.ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ttl: must not be negative; use 0 for the policy's TTL");
  }
  auto resolved = pending_.Resolve(r.pending_id);
  if (!resolved.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no pending connection ", r.pending_id, " (already decided or expired)"));
  }
  const bool accept = r.verdict == nfr::v1::VERDICT_ACCEPT;
  auto policy = policy_.Get();
  const nfr::v1::DecisionScope scope =
      r.scope == nfr::v1::DECISION_SCOPE_UNSPECIFIED ? nfr::v1::DECISION_SCOPE_ONCE : r.scope;
  absl::Duration ttl = absl::ZeroDuration();
  const FlowOrigin origin =
      OriginOf(NFR_ORIGIN_CONTROLLER, 0, r.decision_id, resolved->info.flow());
  if (scope == nfr::v1::DECISION_SCOPE_ONCE) {
    if (accept && resolved->key.proto == IPPROTO_TCP) {
      // SYN retransmissions already queued must not open a second pending entry
      // that would then hold the established connection: a short grace entry.
      CacheDecision(resolved->key, true, policy->pending_timeout(), origin);
    } else {
      CacheDelete(resolved->key);  // the next packet of this flow asks again
      // The answers to the datagrams accepted once still get through.
      if (accept && resolved->key.proto == IPPROTO_UDP) {
        CacheReply(resolved->key, origin, policy->pending_timeout());
      }
    }
  } else {
    ttl = (scope == nfr::v1::DECISION_SCOPE_FLOW && r.ttl > absl::ZeroDuration())
              ? r.ttl
              : policy->flow_ttl();
    CacheDecision(resolved->key, accept, ttl, origin);
  }
  ApplyToHeld(resolved->packets, accept);
  ++controller_decisions_;

  nfr::v1::Decision d = MakeDecision(
      resolved->info.flow(), accept, scope, nfr::v1::DECISION_SOURCE_CONTROLLER, ttl,
      r.rule_id.empty() ? resolved->info.rule_id() : r.rule_id, r.pending_id);
  d.set_id(r.decision_id);
  d.set_decider(r.decider);
  d.set_reason(r.reason);
  LogLine(absl::StrCat(
      "decision ", VerdictWord(accept), " ", Where(resolved->info.flow()), " (pending ",
      r.pending_id, ", controller ", r.decider.empty() ? "unknown" : r.decider, ", ",
      nfr::v1::DecisionScope_Name(scope), ", ", resolved->packets.size(), " held packets)"));
  return Resolution{std::move(resolved->info), std::move(d)};
}

absl::Status VerdictEngine::ForEachFlow(FlowWanted want,
                                        absl::FunctionRef<void(const CachedFlow&)> fn) const {
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return absl::OkStatus();
  const uint64_t mono_now = datapath::MonotonicNowNs();
  const absl::Time now = absl::Now();
  CachedFlow c;
  return cache_->DumpFlows([&](absl::Span<const nfr_flow_key> keys,
                               absl::Span<const nfr_flow_value> values) {
    auto emit = [&](const nfr_flow_key& key, const nfr_flow_value& v) {
      c.key = key;
      c.value = v;
      c.flow = FlowOf(PacketInfoOfKey(key), names_.NameOf(v.ifindex),
                      v.direction == NFR_DIR_EGRESS ? nfr::v1::DIRECTION_EGRESS
                                                    : nfr::v1::DIRECTION_INGRESS);
      c.expires = v.expires_ns == 0 ? absl::InfiniteFuture()
                                    : now + absl::Nanoseconds(static_cast<int64_t>(
                                                v.expires_ns - std::min<uint64_t>(v.expires_ns, mono_now)));
      fn(c);
    };
    for (size_t i = 0; i < keys.size(); ++i) {
      const nfr_flow_value& v = values[i];
      if (v.verdict != NFR_VERDICT_ALLOW && v.verdict != NFR_VERDICT_DENY) continue;
      if (want(keys[i], v)) emit(keys[i], v);
      if (!(v.flags & NFR_FLOW_F_REPLIES)) continue;
      // The reply entry this one implies, listed as an explicit one would be (unless one is).
      const nfr_flow_key reverse = ReverseFlowKey(keys[i]);
      nfr_flow_value reply = v;
      reply.flags = NFR_FLOW_F_REPLY;
      reply.direction = v.direction == NFR_DIR_EGRESS ? NFR_DIR_INGRESS : NFR_DIR_EGRESS;
      if (want(reverse, reply) && !cache_->LookupFlow(reverse).has_value()) emit(reverse, reply);
    }
  });
}

void VerdictEngine::WithReplies(absl::Span<const CachedFlow> flows,
                                std::vector<nfr_flow_key>* keys,
                                std::vector<nfr_flow_value>* values, std::vector<size_t>* of) {
  for (size_t i = 0; i < flows.size(); ++i) {
    keys->push_back(flows[i].key);
    values->push_back(flows[i].value);
    of->push_back(i);
  }
  for (size_t i = 0; i < flows.size(); ++i) {
    const nfr_flow_value& v = flows[i].value;
    if (flows[i].key.proto != IPPROTO_UDP || (v.flags & (NFR_FLOW_F_REPLY | NFR_FLOW_F_REPLIES)) ||
        v.verdict != NFR_VERDICT_ALLOW) {
      continue;
    }
    const nfr_flow_key reverse = ReverseFlowKey(flows[i].key);
    std::optional<nfr_flow_value> r = cache_->LookupFlow(reverse);
    if (!r.has_value() || !(r->flags & NFR_FLOW_F_REPLY)) continue;
    keys->push_back(reverse);
    values->push_back(*r);
    of->push_back(i);
  }
}

absl::Status VerdictEngine::ForgetFlows(absl::Span<const CachedFlow> flows) {
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return absl::UnavailableError("the agent is shutting down; no flow cache");
  std::vector<nfr_flow_key> keys;
  std::vector<nfr_flow_value> values;
  std::vector<size_t> of;
  WithReplies(flows, &keys, &values, &of);
  return cache_->DeleteFlows(keys);
}

absl::StatusOr<absl::Duration> VerdictEngine::DenyFlows(absl::Span<const CachedFlow> flows,
                                                        absl::Span<const uint64_t> ids) {
  if (ids.size() != flows.size()) return absl::InternalError("DenyFlows: one id per flow");
  const absl::Duration ttl = policy_.Get()->flow_ttl();
  absl::ReaderMutexLock lock(&cache_mu_);
  if (cache_ == nullptr) return absl::UnavailableError("the agent is shutting down; no flow cache");
  std::vector<nfr_flow_key> keys;
  std::vector<nfr_flow_value> values;
  std::vector<size_t> of;
  WithReplies(flows, &keys, &values, &of);
  const uint64_t expires = datapath::ExpiryFromTtl(ttl);
  for (size_t i = 0; i < values.size(); ++i) {
    nfr_flow_value& v = values[i];
    v.verdict = NFR_VERDICT_DENY;
    v.origin = NFR_ORIGIN_OPERATOR;
    v.rule = 0;
    v.origin_id = ids[of[i]];
    v.expires_ns = expires;
  }
  for (const nfr_flow_key& k : keys) recent_.Note(k);
  if (absl::Status s = cache_->UpdateFlows(keys, values); !s.ok()) return s;
  return ttl;
}

VerdictEngine::Reevaluation VerdictEngine::Reevaluate() {
  const absl::Time start = absl::Now();
  Reevaluation r;
  auto policy = policy_.Get();
  const uint64_t version = policy->policy().version();
  // A cached flow as the policy now sees it.
  auto match = [&](const nfr_flow_key& key, const nfr_flow_value& v) {
    const bool reply = v.flags & NFR_FLOW_F_REPLY;
    const nfr_flow_key forward = reply ? ReverseFlowKey(key) : key;
    const bool egress = (v.direction == NFR_DIR_EGRESS) != reply;
    return policy->Match(PacketInfoOfKey(forward), names_.NameOf(v.ifindex),
                         egress ? nfr::v1::DIRECTION_EGRESS : nfr::v1::DIRECTION_INGRESS);
  };
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    if (cache_ != nullptr) {
      std::vector<nfr_flow_key> write_keys, delete_keys;
      std::vector<nfr_flow_value> write_values;
      (void)cache_->DumpFlows([&](absl::Span<const nfr_flow_key> keys,
                                  absl::Span<const nfr_flow_value> values) {
        for (size_t i = 0; i < keys.size(); ++i) {
          const nfr_flow_value& v = values[i];
          if (v.verdict != NFR_VERDICT_ALLOW && v.verdict != NFR_VERDICT_DENY) continue;
          ++r.flows_scanned;
          nfr_flow_value next = v;
          if (v.origin == NFR_ORIGIN_POLICY || v.origin == NFR_ORIGIN_DEFAULT) {
            const PolicyMatch m = match(keys[i], v);
            if (m.action == nfr::v1::ACTION_ASK) {
              delete_keys.push_back(keys[i]);  // the next packet asks
              continue;
            }
            next.verdict = m.action == nfr::v1::ACTION_ACCEPT ? NFR_VERDICT_ALLOW : NFR_VERDICT_DENY;
            next.origin = NFR_ORIGIN_POLICY;
            next.rule = static_cast<uint32_t>(m.rule_index + 1);
            if (next.verdict == v.verdict && next.rule == v.rule && next.origin == v.origin) {
              continue;  // unchanged: no write (a rewrite of every entry costs too much)
            }
            next.origin_id = version;
          } else if (v.origin == NFR_ORIGIN_CONTROLLER && v.verdict == NFR_VERDICT_ALLOW) {
            // A controller's accept stands unless a DROP rule now matches it.
            const PolicyMatch m = match(keys[i], v);
            if (m.rule_index < 0 || m.action != nfr::v1::ACTION_DROP) continue;
            next.verdict = NFR_VERDICT_DENY;
            next.origin = NFR_ORIGIN_POLICY;
            next.rule = static_cast<uint32_t>(m.rule_index + 1);
            next.origin_id = version;
          } else {
            continue;  // controller drops and operator entries keep their verdict
          }
          write_keys.push_back(keys[i]);
          write_values.push_back(next);
        }
      });
      for (const nfr_flow_key& k : write_keys) recent_.Note(k);
      if (!write_keys.empty() && !cache_->UpdateFlows(write_keys, write_values).ok()) {
        ++cache_errors_;
      }
      if (!delete_keys.empty() && !cache_->DeleteFlows(delete_keys).ok()) ++cache_errors_;
      r.flows_changed = write_keys.size();
      r.flows_deleted = delete_keys.size();
    }
  }
  // Pending connections the new policy decides without asking.
  for (const nfr::v1::PendingConnection& p : pending_.Snapshot()) {
    ++r.pending_scanned;
    std::optional<nfr_flow_key> key = pending_.KeyOf(p.id());
    if (!key.has_value()) continue;
    const PolicyMatch m =
        policy->Match(PacketInfoOfKey(*key), p.flow().interface(), p.flow().direction());
    if (m.action == nfr::v1::ACTION_ASK) continue;
    std::optional<ResolvedPending> e = pending_.Resolve(p.id());
    if (!e.has_value()) continue;  // decided meanwhile
    const bool accept = m.action == nfr::v1::ACTION_ACCEPT;
    CacheDecision(e->key, accept, m.ttl,
                  OriginOf(NFR_ORIGIN_POLICY, static_cast<uint32_t>(m.rule_index + 1), version,
                           e->info.flow()));
    ApplyToHeld(e->packets, accept);
    ++r.pending_resolved;
    ++(accept ? policy_accept_ : policy_drop_);
    LogLine(absl::StrCat("decision ", VerdictWord(accept), " ", Where(e->info.flow()),
                         " (pending ", e->info.id(), ", policy version ", version, " ",
                         m.rule_id.empty() ? "default verdict" : absl::StrCat("rule ", m.rule_id),
                         ", ", e->packets.size(), " held packets)"));
    if (sink_ != nullptr) {
      sink_->OnPendingResolved(
          e->info, MakeDecision(e->info.flow(), accept, nfr::v1::DECISION_SCOPE_FLOW,
                                nfr::v1::DECISION_SOURCE_POLICY, m.ttl, m.rule_id, e->info.id()));
    }
  }
  r.took = absl::Now() - start;
  return r;
}

void VerdictEngine::ExpireDue(absl::Time now) {
  auto due = pending_.ExpireDue(now);
  if (due.empty()) return;
  auto policy = policy_.Get();
  const bool accept = DefaultAccepts(*policy);
  // A default accept lets the flow run like a policy accept; a default drop
  // absorbs retransmissions for one more timeout, then the flow may ask again.
  const absl::Duration ttl = accept ? policy->flow_ttl() : policy->pending_timeout();
  for (auto& e : due) {
    CacheDecision(e.key, accept, ttl,
                  OriginOf(NFR_ORIGIN_DEFAULT, 0, policy->policy().version(), e.info.flow()));
    ApplyToHeld(e.packets, accept);
    LogLine(absl::StrCat("decision ", VerdictWord(accept), " ", Where(e.info.flow()), " (pending ",
                         e.info.id(), " timed out, default verdict, ", e.packets.size(),
                         " held packets)"));
    if (sink_ != nullptr) {
      sink_->OnPendingResolved(
          e.info,
          MakeDecision(e.info.flow(), accept, nfr::v1::DECISION_SCOPE_FLOW,
                       nfr::v1::DECISION_SOURCE_TIMEOUT, ttl, e.info.rule_id(), e.info.id()));
    }
  }
}

void VerdictEngine::ResolveAll(absl::string_view why) {
  auto all = pending_.TakeAll();
  if (all.empty()) return;
  const bool accept = DefaultAccepts(*policy_.Get());
  for (auto& e : all) {
    ApplyToHeld(e.packets, accept);
    LogLine(absl::StrCat("decision ", VerdictWord(accept), " ", Where(e.info.flow()), " (pending ",
                         e.info.id(), ", ", why, ", default verdict)"));
    if (sink_ != nullptr) {
      nfr::v1::Decision d = MakeDecision(e.info.flow(), accept, nfr::v1::DECISION_SCOPE_ONCE,
                                         nfr::v1::DECISION_SOURCE_TIMEOUT, absl::ZeroDuration(),
                                         e.info.rule_id(), e.info.id());
      d.set_reason(std::string(why));
      sink_->OnPendingResolved(e.info, d);
    }
  }
}

EngineCounters VerdictEngine::counters() const {
  return {packets_.load(),
          parse_errors_.load(),
          cache_hits_.load(),
          policy_accept_.load(),
          policy_drop_.load(),
          asked_.load(),
          controller_decisions_.load(),
          cache_errors_.load(),
          lookups_skipped_.load(),
          sampler_.unlogged()};
}

}  // namespace nfr
