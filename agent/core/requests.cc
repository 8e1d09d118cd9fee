#include "agent/core/requests.h"

#include "agent/core/flow_filter.h"
#include "agent/util/proto_time.h"
#include "bpf/nfr_abi.h"

namespace nfr {
namespace {

constexpr const char* kBpfStatNames[] = {
    "packets",    "not_ip",           "unselected",     "not_new",   "cache_allow",
    "cache_deny", "cache_pending",    "to_native",      "to_compat", "native_refused",
    "no_pathway", "fail_closed_drop", "budget_exceeded"};
static_assert(sizeof(kBpfStatNames) / sizeof(kBpfStatNames[0]) == NFR_STAT_MAX,
              "keep kBpfStatNames in step with enum nfr_stat");

PolicyChange ChangeBy(const std::string& author, bool has_expected, uint64_t expected) {
  PolicyChange c;
  c.author = author;
  if (has_expected) c.expected_version = expected;
  return c;
}

}  // namespace

absl::StatusOr<nfr::v1::ApplyPolicyResponse> ApplyPolicy(Core& core,
                                                         const nfr::v1::ApplyPolicyRequest& req,
                                                         const std::string& author) {
  if (!req.has_policy()) {
    return absl::InvalidArgumentError(
        "policy: missing; send the whole policy (nfrctl policy apply -f FILE)");
  }
  PolicyChange c = ChangeBy(author, req.has_expected_version(), req.expected_version());
  c.comment = req.comment();
  absl::StatusOr<nfr::v1::Policy> p = core.policy().Apply(req.policy(), c);
  if (!p.ok()) return p.status();
  nfr::v1::ApplyPolicyResponse resp;
  *resp.mutable_policy() = *std::move(p);
  return resp;
}

absl::StatusOr<nfr::v1::UpdateSetResponse> UpdateSet(Core& core,
                                                     const nfr::v1::UpdateSetRequest& req,
                                                     const std::string& author) {
  PolicyChange c = ChangeBy(author, req.has_expected_version(), req.expected_version());
  c.comment = req.comment();
  PolicyBook::SetDelta d;
  d.name = req.name();
  d.add.assign(req.add().begin(), req.add().end());
  d.remove.assign(req.remove().begin(), req.remove().end());
  d.add_ports.assign(req.add_ports().begin(), req.add_ports().end());
  d.remove_ports.assign(req.remove_ports().begin(), req.remove_ports().end());
  SetDeltaResult r;
  absl::StatusOr<nfr::v1::Policy> p = core.policy().UpdateSet(d, c, &r);
  if (!p.ok()) return p.status();
  nfr::v1::UpdateSetResponse resp;
  resp.set_version(p->version());
  resp.set_added(r.added);
  resp.set_already_present(r.already_present);
  resp.set_removed(r.removed);
  resp.set_absent(r.absent);
  resp.set_size(r.size);
  return resp;
}

absl::StatusOr<nfr::v1::AddRuleResponse> AddRule(Core& core, const nfr::v1::AddRuleRequest& req,
                                                 const std::string& author) {
  absl::StatusOr<nfr::v1::Policy> p = core.policy().AddRule(
      req.rule(), req.has_position() ? std::optional<uint32_t>(req.position()) : std::nullopt,
      ChangeBy(author, req.has_expected_version(), req.expected_version()));
  if (!p.ok()) return p.status();
  nfr::v1::AddRuleResponse resp;
  *resp.mutable_policy() = *std::move(p);
  return resp;
}

absl::StatusOr<nfr::v1::RemoveRuleResponse> RemoveRule(Core& core,
                                                       const nfr::v1::RemoveRuleRequest& req,
                                                       const std::string& author) {
  absl::StatusOr<nfr::v1::Policy> p = core.policy().RemoveRule(
      req.rule_id(), ChangeBy(author, req.has_expected_version(), req.expected_version()));
  if (!p.ok()) return p.status();
  nfr::v1::RemoveRuleResponse resp;
  *resp.mutable_policy() = *std::move(p);
  return resp;
}

absl::StatusOr<nfr::v1::ListPendingResponse> ListPending(Core& core,
                                                         const nfr::v1::ListPendingRequest& req) {
  absl::StatusOr<FlowFilter> filter = PendingFilterFrom(req.filter());
  if (!filter.ok()) return filter.status();
  nfr::v1::ListPendingResponse resp;
  for (const nfr::v1::PendingConnection& p : core.agent().ListPending()) {
    if (filter->Matches(p.flow())) *resp.add_pending() = p;
  }
  return resp;
}

absl::StatusOr<nfr::v1::ListFlowsResponse> ListFlows(Core& core,
                                                     const nfr::v1::ListFlowsRequest& req) {
  return core.flows().List(req);
}

absl::StatusOr<nfr::v1::ChangeFlowsResponse> ChangeFlows(Core& core, FlowChangeCommand::Kind kind,
                                                         const nfr::v1::ChangeFlowsRequest& req,
                                                         const std::string& decider) {
  FlowChangeCommand c;
  c.kind = kind;
  c.filter = req.filter();
  c.reason = req.reason();
  c.limit = req.limit();
  c.decider = decider;
  return core.flows().Change(c);
}

absl::StatusOr<nfr::v1::DecideResponse> Decide(Core& core, const nfr::v1::DecideRequest& req,
                                               const std::string& decider) {
  DecideCommand c;
  c.pending_id = req.pending_id();
  c.verdict = req.verdict();
  c.scope = req.scope();
  c.ttl_seconds = req.ttl_seconds();
  c.rule_id = req.rule_id();
  c.reason = req.reason();
  c.decider = decider;
  absl::StatusOr<DecideOutcome> out = core.Decide(c);
  if (!out.ok()) return out.status();
  nfr::v1::DecideResponse resp;
  *resp.mutable_decision() = std::move(out->decision);
  if (out->rule.has_value()) *resp.mutable_rule() = std::move(*out->rule);
  resp.set_policy_version(out->policy_version);
  return resp;
}

std::optional<nfr::v1::PendingEvent> PendingEventFrom(const HubEvent& ev) {
  if (ev.kind == HubEvent::kFlowDecided) return std::nullopt;
  nfr::v1::PendingEvent e;
  *e.mutable_time() = ToProtoTime(absl::Now());
  if (ev.kind == HubEvent::kPendingAdded) {
    *e.mutable_added() = ev.pending;
    return e;
  }
  nfr::v1::PendingResolved* r =
      ev.kind == HubEvent::kPendingExpired ? e.mutable_expired() : e.mutable_resolved();
  *r->mutable_pending() = ev.pending;
  *r->mutable_decision() = ev.decision;
  return e;
}

nfr::v1::AgentStatus AgentStatusReport(Core& core, absl::Time api_started, uint64_t events_lost) {
  nfr::v1::AgentStatus resp;
  const AgentStatusInfo st = core.agent().Status();
  resp.set_version(st.version);
  resp.set_mode(st.mode);
  resp.set_kernel_capability(st.kernel_capability);
  resp.set_compat_backend(st.compat_backend);
  for (const std::string& i : st.interfaces) resp.add_interfaces(i);
  for (uint32_t q : st.queues) resp.add_queues(q);
  // An agent not started (API tests) reports InfinitePast: not a valid Timestamp.
  const absl::Time started = st.started <= absl::UnixEpoch() ? api_started : st.started;
  resp.mutable_started()->set_seconds(absl::ToUnixSeconds(started));
  resp.set_uptime_seconds(static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - started)));
  resp.set_policy_version(core.policy().CurrentVersion());
  nfr::v1::AgentCounters* c = resp.mutable_counters();
  for (size_t i = 0; i < st.counters.bpf.size() && i < NFR_STAT_MAX; ++i) {
    (*c->mutable_bpf())[kBpfStatNames[i]] = st.counters.bpf[i];
  }
  c->set_queued_packets(st.counters.queued_packets);
  c->set_verdicts_accept(st.counters.verdicts_accept);
  c->set_verdicts_drop(st.counters.verdicts_drop);
  c->set_enobufs(st.counters.enobufs);
  c->set_pending_now(st.counters.pending_now);
  c->set_pending_expired(st.counters.pending_expired);
  c->set_pending_overflow(st.counters.pending_overflow);
  c->set_engine_packets(st.counters.engine_packets);
  c->set_parse_errors(st.counters.parse_errors);
  c->set_engine_cache_hits(st.counters.engine_cache_hits);
  c->set_policy_accept(st.counters.policy_accept);
  c->set_policy_drop(st.counters.policy_drop);
  c->set_asked(st.counters.asked);
  c->set_controller_decisions(st.counters.controller_decisions);
  c->set_cache_errors(st.counters.cache_errors);
  c->set_lookups_skipped(st.counters.lookups_skipped);
  c->set_policy_decisions_unlogged(st.counters.policy_decisions_unlogged);
  for (const auto& [rule, n] : st.counters.unlogged_by_rule) {
    (*c->mutable_unlogged_by_rule())[rule] = n;
  }
  for (const QueueStatusInfo& q : st.queue_status) {
    nfr::v1::QueueStatus* o = resp.add_queue_status();
    o->set_num(q.num);
    o->set_fail_open(q.fail_open);
    o->set_received(q.received);
    o->set_accepted(q.accepted);
    o->set_dropped(q.dropped);
    o->set_held(q.held);
    o->set_enobufs(q.enobufs);
    o->set_kernel_stats(q.kernel_stats);
    o->set_waiting(q.waiting);
    o->set_queue_dropped(q.queue_dropped);
    o->set_user_dropped(q.user_dropped);
  }
  c->set_watchers(core.hub().subscribers());
  c->set_events_lost(events_lost);
  const StoreStats ss = core.decisions().stats();
  c->set_decisions_logged(ss.decisions_logged);
  c->set_decision_log_overflow(ss.decision_log_overflow);
  return resp;
}

}  // namespace nfr
