#include "agent/api/agent_service.h"

#include "bpf/nfr_abi.h"

namespace nfr {
namespace {

constexpr const char* kBpfStatNames[] = {"packets",        "not_ip",      "unselected",
                                         "not_new",        "cache_allow", "cache_deny",
                                         "cache_pending",  "to_native",   "to_compat",
                                         "native_refused", "no_pathway",  "fail_closed_drop",
                                         "budget_exceeded"};
static_assert(sizeof(kBpfStatNames) / sizeof(kBpfStatNames[0]) == NFR_STAT_MAX,
              "keep kBpfStatNames in step with enum nfr_stat");

}  // namespace

grpc::ServerUnaryReactor* AgentServiceImpl::GetStatus(grpc::CallbackServerContext* ctx,
                                                      const nfr::v1::GetStatusRequest*,
                                                      nfr::v1::AgentStatus* resp) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "GetStatus", &caller); !s.ok()) {
    r->Finish(ToGrpc(s));
    return r;
  }
  const AgentStatusInfo st = api_.core->agent().Status();
  resp->set_version(st.version);
  resp->set_mode(st.mode);
  resp->set_kernel_capability(st.kernel_capability);
  resp->set_compat_backend(st.compat_backend);
  for (const std::string& i : st.interfaces) resp->add_interfaces(i);
  for (uint32_t q : st.queues) resp->add_queues(q);
  const absl::Time started =
      st.started == absl::UnixEpoch() || st.started == absl::Time() ? api_.started : st.started;
  resp->mutable_started()->set_seconds(absl::ToUnixSeconds(started));
  resp->set_uptime_seconds(static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - started)));
  resp->set_policy_version(api_.core->policy().Current().version());
  nfr::v1::AgentCounters* c = resp->mutable_counters();
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
  for (const auto& [rule, n] : st.counters.unlogged_by_rule) (*c->mutable_unlogged_by_rule())[rule] = n;
  for (const QueueStatusInfo& q : st.queue_status) {
    nfr::v1::QueueStatus* o = resp->add_queue_status();
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
  c->set_watchers(api_.core->hub().subscribers());
  c->set_events_lost(api_.events_lost.load());
  c->set_api_connections_refused(api_.connections.refused.load());
  c->set_api_connections_open(api_.connections.open.load());
  c->set_api_streams_refused(api_.streams->refused());
  c->set_api_rate_limited(api_.changes->limited());
  const StoreStats ss = api_.core->decisions().stats();
  c->set_decisions_logged(ss.decisions_logged);
  c->set_decision_log_overflow(ss.decision_log_overflow);
  resp->set_caller(caller.identity);
  resp->set_caller_role(std::string(RoleName(caller.role)));
  r->Finish(grpc::Status::OK);
  return r;
}

}  // namespace nfr
