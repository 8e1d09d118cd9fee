#include "agent/metrics/agent_metrics.h"

#include <map>

#include "agent/metrics/prom_text.h"

namespace nfr {

std::string RenderAgentMetrics(const nfr::v1::AgentStatus& st) {
  const nfr::v1::AgentCounters& c = st.counters();
  PromText p;
  p.Family("nfr_info", "gauge", "Agent version and datapath mode (always 1).");
  p.Sample("nfr_info", 1, {{"version", st.version()}, {"mode", st.mode()}});
  p.Family("nfr_uptime_seconds", "gauge", "Seconds since the agent started.");
  p.Sample("nfr_uptime_seconds", static_cast<double>(st.uptime_seconds()));
  p.Family("nfr_policy_version", "gauge", "Version of the installed policy.");
  p.Sample("nfr_policy_version", static_cast<double>(st.policy_version()));
  p.Family("nfr_packets_queued_total", "counter", "Packets read from NFQUEUE.");
  p.Sample("nfr_packets_queued_total", static_cast<double>(c.queued_packets()));
  p.Family("nfr_queue_verdicts_total", "counter", "Verdicts returned to NFQUEUE.");
  p.Sample("nfr_queue_verdicts_total", static_cast<double>(c.verdicts_accept()),
           {{"verdict", "accept"}});
  p.Sample("nfr_queue_verdicts_total", static_cast<double>(c.verdicts_drop()),
           {{"verdict", "drop"}});
  p.Family("nfr_verdicts_total", "counter", "Flows decided by the verdict engine, by source.");
  p.Sample("nfr_verdicts_total", static_cast<double>(c.policy_accept()),
           {{"source", "policy"}, {"verdict", "accept"}});
  p.Sample("nfr_verdicts_total", static_cast<double>(c.policy_drop()),
           {{"source", "policy"}, {"verdict", "drop"}});
  p.Family("nfr_controller_decisions_total", "counter",
           "Pending connections decided by a controller.");
  p.Sample("nfr_controller_decisions_total", static_cast<double>(c.controller_decisions()));
  p.Family("nfr_pending", "gauge", "Connections held for a controller now.");
  p.Sample("nfr_pending", static_cast<double>(c.pending_now()));
  p.Family("nfr_pending_asked_total", "counter", "Connections that became pending.");
  p.Sample("nfr_pending_asked_total", static_cast<double>(c.asked()));
  p.Family("nfr_pending_expired_total", "counter",
           "Pending connections that got the default verdict on timeout.");
  p.Sample("nfr_pending_expired_total", static_cast<double>(c.pending_expired()));
  p.Family("nfr_pending_overflow_total", "counter", "Connections not held: pending table full.");
  p.Sample("nfr_pending_overflow_total", static_cast<double>(c.pending_overflow()));
  p.Family("nfr_queue_overflow_total", "counter",
           "NFQUEUE socket overruns (ENOBUFS): packets the kernel could not hand over.");
  p.Sample("nfr_queue_overflow_total", static_cast<double>(c.enobufs()));
  const auto& bpf = c.bpf();
  auto stat = [&](const char* k) {
    auto it = bpf.find(k);
    return it == bpf.end() ? 0.0 : static_cast<double>(it->second);
  };
  p.Family("nfr_flow_cache_hits_total", "counter",
           "Packets the tc program decided from its flow cache.");
  p.Sample("nfr_flow_cache_hits_total", stat("cache_allow"), {{"verdict", "accept"}});
  p.Sample("nfr_flow_cache_hits_total", stat("cache_deny"), {{"verdict", "drop"}});
  p.Sample("nfr_flow_cache_hits_total", stat("cache_pending"), {{"verdict", "pending"}});
  p.Family("nfr_bpf_packets_total", "counter", "tc program counters by outcome (enum nfr_stat).");
  for (const auto& [k, v] : std::map<std::string, uint64_t>(bpf.begin(), bpf.end())) {
    p.Sample("nfr_bpf_packets_total", static_cast<double>(v), {{"stat", k}});
  }
  p.Family("nfr_decisions_logged_total", "counter", "Decisions written to the SQLite log.");
  p.Sample("nfr_decisions_logged_total", static_cast<double>(c.decisions_logged()));
  p.Family("nfr_decision_log_overflow_total", "counter",
           "Decisions not logged: writer queue full.");
  p.Sample("nfr_decision_log_overflow_total", static_cast<double>(c.decision_log_overflow()));
  p.Family("nfr_watchers", "gauge", "Open watch streams.");
  p.Sample("nfr_watchers", static_cast<double>(c.watchers()));
  p.Family("nfr_events_lost_total", "counter", "Events discarded for slow watchers.");
  p.Sample("nfr_events_lost_total", static_cast<double>(c.events_lost()));
  p.Family("nfr_api_connections_open", "gauge", "API connections on the Unix socket now.");
  p.Sample("nfr_api_connections_open", static_cast<double>(c.api_connections_open()));
  p.Family("nfr_api_refused_total", "counter",
           "API requests or connections refused over a limit (api.limits), by limit.");
  p.Sample("nfr_api_refused_total", static_cast<double>(c.api_connections_refused()),
           {{"limit", "connections"}});
  p.Sample("nfr_api_refused_total", static_cast<double>(c.api_tcp_connections_reset()),
           {{"limit", "tcp_connection_cap"}});
  p.Sample("nfr_api_refused_total", static_cast<double>(c.api_streams_refused()),
           {{"limit", "streams"}});
  p.Sample("nfr_api_refused_total", static_cast<double>(c.api_rate_limited()),
           {{"limit", "changes_per_second"}});
  if (st.has_link()) {
    p.Family("nfr_link_connected", "gauge", "1 while the link to the fleet gateway is up.");
    p.Sample("nfr_link_connected", st.link().connected() ? 1 : 0);
    p.Family("nfr_link_connects_total", "counter", "Links established to the fleet gateway.");
    p.Sample("nfr_link_connects_total", static_cast<double>(c.link_connects()));
    p.Family("nfr_link_decisions_uploaded_total", "counter", "Decisions uploaded to the gateway.");
    p.Sample("nfr_link_decisions_uploaded_total", static_cast<double>(c.link_decisions_uploaded()));
    p.Family("nfr_link_requests_total", "counter", "Gateway requests answered.");
    p.Sample("nfr_link_requests_total", static_cast<double>(c.link_requests()));
    p.Family("nfr_link_acked_decision_id", "gauge",
             "Highest decision id the gateway acknowledged.");
    p.Sample("nfr_link_acked_decision_id", static_cast<double>(st.link().acked_decision_id()));
  }
  return p.text();
}

}  // namespace nfr
