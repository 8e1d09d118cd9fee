#include "agent/config/config_defaults.h"

#include <algorithm>

#include "agent/config/config_loader.h"
#include "agent/policy/policy_validation.h"

namespace nfr {
namespace {

// A lab-ready default: no interfaces (pass --interfaces=IFACE), mode auto
// (native pathway when the kernel has it, else compat). The policy lets SSH,
// HTTP and HTTPS through, answers pings, holds every other new TCP connection
// for a controller (nfrctl pending watch / decide) for 5 s, and drops
// everything else — including held connections nobody decides in time.
// Decided flows stay in the BPF flow cache for 5 minutes.
constexpr char kEmbeddedDefault[] = R"json({
  "mode": "MODE_AUTO",
  "policy": {
    "rules": [
      {"id": "ssh", "protocol": "PROTOCOL_TCP", "dst_ports": [{"first": 22}],
       "action": "ACTION_ACCEPT", "comment": "remote administration"},
      {"id": "web", "protocol": "PROTOCOL_TCP", "dst_ports": [{"first": 80}, {"first": 443}],
       "action": "ACTION_ACCEPT", "comment": "HTTP and HTTPS"},
      {"id": "ping", "protocol": "PROTOCOL_ICMP", "action": "ACTION_ACCEPT",
       "comment": "only echo requests reach the agent"},
      {"id": "ping6", "protocol": "PROTOCOL_ICMPV6", "action": "ACTION_ACCEPT",
       "comment": "only echo requests reach the agent"},
      {"id": "ask-tcp", "protocol": "PROTOCOL_TCP", "action": "ACTION_ASK",
       "comment": "any other TCP connection waits for a controller"}
    ],
    "default_verdict": "VERDICT_DROP",
    "pending_timeout_ms": 5000,
    "flow_ttl_seconds": 300
  }
})json";

// The embedded default's policy, parsed once: JSON parsing costs ~0.1 ms, and ApplyDefaults
// runs for every config without a policy (each fuzz input, each --print_default_config).
const nfr::v1::Policy& EmbeddedDefaultPolicy() {
  static const nfr::v1::Policy* policy =
      new nfr::v1::Policy(ParseConfigJson(kEmbeddedDefault, "embedded default config")->policy());
  return *policy;
}

}  // namespace

absl::string_view EmbeddedDefaultConfigJson() { return kEmbeddedDefault; }

nfr::v1::AgentConfig DefaultConfig() {
  // The embedded text is covered by unit tests; parsing cannot fail.
  nfr::v1::AgentConfig config = *ParseConfigJson(kEmbeddedDefault, "embedded default config");
  ApplyDefaults(config);
  return config;
}

void ApplyApiLimitDefaults(nfr::v1::ApiLimitsConfig& l) {
  auto set = [](uint32_t value, uint32_t fallback) { return value == 0 ? fallback : value; };
  l.set_max_message_bytes(set(l.max_message_bytes(), kDefaultMaxMessageBytes));
  l.set_max_policy_bytes(set(l.max_policy_bytes(), kDefaultMaxPolicyBytes));
  l.set_max_connections(set(l.max_connections(), kDefaultMaxConnections));
  l.set_max_connections_per_peer(set(l.max_connections_per_peer(),
                                     std::min(kDefaultMaxConnectionsPerPeer, l.max_connections())));
  l.set_handshake_timeout_ms(set(l.handshake_timeout_ms(), kDefaultHandshakeTimeoutMs));
  l.set_idle_timeout_ms(set(l.idle_timeout_ms(), kDefaultIdleTimeoutMs));
  l.set_max_streams(set(l.max_streams(), kDefaultMaxStreams));
  l.set_max_streams_per_peer(
      set(l.max_streams_per_peer(), std::min(kDefaultMaxStreamsPerPeer, l.max_streams())));
  l.set_snapshot_max(set(l.snapshot_max(), kDefaultSnapshotMax));
  l.set_changes_per_second(set(l.changes_per_second(), kDefaultChangesPerSecond));
  l.set_changes_burst(set(l.changes_burst(), 2 * l.changes_per_second()));
}

void ApplyDefaults(nfr::v1::AgentConfig& c) {
  auto* q = c.mutable_queue();
  if (!q->has_num()) q->set_num(kDefaultQueueNum);
  if (q->count() == 0) q->set_count(1);
  if (q->max_len() == 0) q->set_max_len(kDefaultQueueMaxLen);
  if (q->socket_buffer_bytes() == 0) q->set_socket_buffer_bytes(kDefaultSocketBufferBytes);

  if (!c.compat().has_mark()) c.mutable_compat()->set_mark(kDefaultCompatMark);

  auto* sel = c.mutable_selection();
  if (sel->protocols().empty()) {
    for (auto p : {nfr::v1::PROTOCOL_TCP, nfr::v1::PROTOCOL_UDP, nfr::v1::PROTOCOL_ICMP,
                   nfr::v1::PROTOCOL_ICMPV6}) {
      sel->add_protocols(p);
    }
  }

  auto* pend = c.mutable_pending();
  if (pend->max_flows() == 0) pend->set_max_flows(kDefaultPendingMaxFlows);
  if (pend->max_packets_per_flow() == 0) {
    pend->set_max_packets_per_flow(kDefaultPendingMaxPacketsPerFlow);
  }

  if (c.flow_cache().max_entries() == 0) {
    c.mutable_flow_cache()->set_max_entries(kDefaultFlowCacheEntries);
  }
  auto* budget = c.mutable_new_flow_budget();
  if (!budget->has_rate_per_second()) budget->set_rate_per_second(kDefaultNewFlowRate);
  if (budget->burst() == 0) {
    budget->set_burst(budget->rate_per_second() * kDefaultNewFlowBurstFactor);
  }

  if (!c.decision_log().has_records_per_second()) {
    c.mutable_decision_log()->set_records_per_second(kDefaultDecisionRecordsPerSecond);
  }

  if (c.bpf_pin_dir().empty()) c.set_bpf_pin_dir(kDefaultPinDir);
  if (!c.restart().has_keep_flow_cache()) c.mutable_restart()->set_keep_flow_cache(true);

  auto* api = c.mutable_api();
  if (api->unix_socket().empty()) api->set_unix_socket(kDefaultApiSocketPath);
  if (api->socket_group().empty()) api->set_socket_group(kDefaultSocketGroup);
  ApplyApiLimitDefaults(*api->mutable_limits());

  auto* store = c.mutable_store();
  if (store->db_path().empty()) store->set_db_path(kDefaultDbPath);
  if (store->max_decisions() == 0) store->set_max_decisions(kDefaultMaxDecisions);
  if (store->max_decision_age_days() == 0) {
    store->set_max_decision_age_days(kDefaultMaxDecisionAgeDays);
  }
  if (store->max_policy_versions() == 0) store->set_max_policy_versions(kDefaultMaxPolicyVersions);
  if (store->max_policy_history_mib() == 0) {
    store->set_max_policy_history_mib(kDefaultMaxPolicyHistoryMib);
  }

  if (!c.has_policy()) {
    *c.mutable_policy() = EmbeddedDefaultPolicy();
  }
  auto* pol = c.mutable_policy();
  if (pol->pending_timeout_ms() == 0) pol->set_pending_timeout_ms(kDefaultPendingTimeoutMs);
  if (pol->flow_ttl_seconds() == 0) pol->set_flow_ttl_seconds(kDefaultFlowTtlSeconds);
}

}  // namespace nfr
