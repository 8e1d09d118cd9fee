#include "agent/config/config_validation.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/config/config_defaults.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/prefix.h"
#include "nfr_abi.h"

namespace nfr {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status ValidateInterfaces(const nfr::v1::AgentConfig& c) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < c.interfaces_size(); ++i) {
    const auto& name = c.interfaces(i).name();
    const std::string f = absl::StrCat("interfaces[", i, "].name");
    if (!IsValidInterfaceName(name)) {
      return FieldError(f, absl::StrCat("\"", name,
                                        "\" is not an interface name; use 1..15 characters "
                                        "without '/', ':', ',' or spaces"));
    }
    if (!seen.insert(name).second) {
      return FieldError(f, absl::StrCat("\"", name,
                                        "\" is listed twice; list it once (set "
                                        "egress there to inspect both directions)"));
    }
    if (c.interfaces(i).egress() && c.mode() == nfr::v1::MODE_COMPAT) {
      return FieldError(absl::StrCat("interfaces[", i, "].egress"),
                        "egress inspection needs the native pathway, and mode is MODE_COMPAT; "
                        "use MODE_AUTO or MODE_NATIVE on a patched kernel, or set egress false");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateQueue(const nfr::v1::QueueConfig& q) {
  if (q.num() > 65535) {
    return FieldError("queue.num", absl::StrCat(q.num(), " is not a queue number; use 0..65535"));
  }
  if (q.count() < 1 || q.count() > kMaxQueueCount) {
    return FieldError("queue.count", absl::StrCat(q.count(), " is out of range; use 1..",
                                                  kMaxQueueCount, " (one thread per queue)"));
  }
  if (uint64_t{q.num()} + q.count() - 1 > 65535) {
    return FieldError("queue.count",
                      absl::StrCat("queues ", q.num(), "..", uint64_t{q.num()} + q.count() - 1,
                                   " pass 65535; lower queue.num or queue.count"));
  }
  if (q.fail_closed() && q.overflow() == nfr::v1::QUEUE_OVERFLOW_ACCEPT) {
    return FieldError("queue.fail_closed",
                      "contradicts queue.overflow QUEUE_OVERFLOW_ACCEPT; drop one of them");
  }
  if (q.max_len() < 1 || q.max_len() > kMaxQueueMaxLen) {
    return FieldError("queue.max_len",
                      absl::StrCat(q.max_len(), " is out of range; use 1..", kMaxQueueMaxLen));
  }
  if (q.socket_buffer_bytes() < kMinSocketBufferBytes ||
      q.socket_buffer_bytes() > kMaxSocketBufferBytes) {
    return FieldError("queue.socket_buffer_bytes",
                      absl::StrCat(q.socket_buffer_bytes(), " is out of range; use ",
                                   kMinSocketBufferBytes, "..", kMaxSocketBufferBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateSelection(const nfr::v1::SelectionConfig& s) {
  for (int i = 0; i < s.protocols_size(); ++i) {
    const int p = s.protocols(i);
    if (p == nfr::v1::PROTOCOL_ANY || !nfr::v1::Protocol_IsValid(p)) {
      return FieldError(absl::StrCat("selection.protocols[", i, "]"),
                        absl::StrCat(p == 0 ? "PROTOCOL_ANY" : absl::StrCat("unknown value ", p),
                                     " cannot be selected; use PROTOCOL_TCP, PROTOCOL_UDP, "
                                     "PROTOCOL_ICMP or PROTOCOL_ICMPV6 (empty list = all four)"));
    }
  }
  for (int i = 0; i < s.dst_ports_size(); ++i) {
    if (s.dst_ports(i) < 1 || s.dst_ports(i) > 65535) {
      return FieldError(absl::StrCat("selection.dst_ports[", i, "]"),
                        absl::StrCat(s.dst_ports(i), " is not a port; use 1..65535"));
    }
  }
  if (s.prefixes_size() > NFR_SEL_PREFIXES_MAX) {
    return FieldError("selection.prefixes",
                      absl::StrCat(s.prefixes_size(), " prefixes exceed the limit of ",
                                   NFR_SEL_PREFIXES_MAX, "; aggregate them"));
  }
  for (int i = 0; i < s.prefixes_size(); ++i) {
    if (auto p = ParsePrefix(s.prefixes(i)); !p.ok()) {
      return FieldError(absl::StrCat("selection.prefixes[", i, "]"), p.status().message());
    }
  }
  return absl::OkStatus();
}

bool IsHostPort(absl::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || ListenPort(s) == 0) return false;
  absl::string_view host = s.substr(0, colon);
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == absl::string_view::npos;
}

absl::Status ValidateApiLimits(nfr::v1::ApiLimitsConfig l) {
  ApplyApiLimitDefaults(l);  // zero = default
  if (l.max_policy_bytes() > l.max_message_bytes()) {
    return FieldError("api.limits.max_policy_bytes",
                      absl::StrCat(l.max_policy_bytes(), " is over api.limits.max_message_bytes (",
                                   l.max_message_bytes(),
                                   "), so such a policy could not be sent; raise "
                                   "max_message_bytes or lower max_policy_bytes"));
  }
  if (l.max_connections_per_peer() > l.max_connections()) {
    return FieldError("api.limits.max_connections_per_peer",
                      absl::StrCat(l.max_connections_per_peer(), " is over max_connections (",
                                   l.max_connections(), "); lower it"));
  }
  if (!nfr::v1::TcpConnectionCap_IsValid(l.tcp_connection_cap())) {
    return FieldError("api.limits.tcp_connection_cap",
                      absl::StrCat("unknown value ", l.tcp_connection_cap(),
                                   "; use TCP_CONNECTION_CAP_AUTO, _OFF, _NFTABLES or _IPTABLES"));
  }
  if (l.max_streams_per_peer() > l.max_streams()) {
    return FieldError("api.limits.max_streams_per_peer",
                      absl::StrCat(l.max_streams_per_peer(), " is over max_streams (",
                                   l.max_streams(), "); lower it"));
  }
  if (l.max_message_bytes() < 4096 || l.max_policy_bytes() < 4096) {
    return FieldError("api.limits", "max_message_bytes and max_policy_bytes must be at least 4096");
  }
  return absl::OkStatus();
}

absl::Status ValidateApi(const nfr::v1::ApiConfig& a) {
  if (auto s = ValidateApiLimits(a.limits()); !s.ok()) return s;
  if (a.unix_socket().empty() || (a.unix_socket() != "-" && a.unix_socket().front() != '/')) {
    return FieldError("api.unix_socket",
                      absl::StrCat("\"", a.unix_socket(),
                                   "\" is not an absolute path; use e.g. /run/nfr/agent.sock, or "
                                   "\"-\" to disable the Unix socket"));
  }
  if (a.tcp_listen().empty()) return absl::OkStatus();
  if (!IsHostPort(a.tcp_listen())) {
    return FieldError("api.tcp_listen", absl::StrCat("\"", a.tcp_listen(),
                                                     "\" is not HOST:PORT; use e.g. "
                                                     "0.0.0.0:7400 or [::1]:7400"));
  }
  if (a.insecure_tcp()) return absl::OkStatus();
  const auto& t = a.tls();
  for (auto [value, name] :
       {std::pair{&t.cert_file(), "cert_file"}, std::pair{&t.key_file(), "key_file"},
        std::pair{&t.client_ca_file(), "client_ca_file"}}) {
    if (value->empty()) {
      return FieldError(absl::StrCat("api.tls.", name),
                        "not set, and TCP requires mTLS; set api.tls.cert_file, key_file and "
                        "client_ca_file, or api.insecure_tcp for a lab");
    }
  }
  return absl::OkStatus();
}

// The dial-out link (docs/fleet.md): files are checked when the link starts.
absl::Status ValidateController(const nfr::v1::ControllerConfig& k) {
  if (k.target().empty()) return absl::OkStatus();
  if (k.ca_file().empty() || k.cert_file().empty() || k.key_file().empty()) {
    return FieldError("controller",
                      "target is set: ca_file, cert_file and key_file are all "
                      "required (the link is always mTLS)");
  }
  if (!nfr::v1::Role_IsValid(k.role())) {
    return FieldError("controller.role", "use ROLE_VIEWER, ROLE_DECIDER or ROLE_ADMIN");
  }
  if (k.backoff_max_ms() != 0 && k.backoff_max_ms() < k.backoff_initial_ms()) {
    return FieldError("controller.backoff_max_ms",
                      absl::StrCat(k.backoff_max_ms(), " is below backoff_initial_ms ",
                                   k.backoff_initial_ms(), "; raise it or lower the other"));
  }
  return absl::OkStatus();
}

}  // namespace

uint16_t ListenPort(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port) ||
      port > 65535) {
    return 0;
  }
  return static_cast<uint16_t>(port);
}

absl::Status ValidateConfig(const nfr::v1::AgentConfig& c) {
  if (auto s = ValidateInterfaces(c); !s.ok()) return s;
  if (!nfr::v1::Mode_IsValid(c.mode())) {
    return FieldError("mode", absl::StrCat("unknown value ", c.mode(),
                                           "; use MODE_AUTO, MODE_NATIVE or MODE_COMPAT"));
  }
  if (auto s = ValidateQueue(c.queue()); !s.ok()) return s;
  if (c.compat().mark() == 0) {
    return FieldError("compat.mark",
                      "0 cannot mark packets; use a nonzero bit, e.g. 16777216 (0x01000000)");
  }
  if (!nfr::v1::CompatBackend_IsValid(c.compat().backend())) {
    return FieldError("compat.backend",
                      absl::StrCat("unknown value ", c.compat().backend(),
                                   "; use COMPAT_BACKEND_AUTO, COMPAT_BACKEND_IPTABLES or "
                                   "COMPAT_BACKEND_NFTABLES"));
  }
  if (auto s = ValidateSelection(c.selection()); !s.ok()) return s;
  if (auto s = ValidatePolicy(c.policy(), "policy."); !s.ok()) return s;
  const auto& p = c.pending();
  if (p.max_flows() < 1 || p.max_flows() > kMaxPendingFlows) {
    return FieldError("pending.max_flows",
                      absl::StrCat(p.max_flows(), " is out of range; use 1..", kMaxPendingFlows));
  }
  if (p.max_packets_per_flow() < 1 || p.max_packets_per_flow() > kMaxPendingPacketsPerFlow) {
    return FieldError("pending.max_packets_per_flow",
                      absl::StrCat(p.max_packets_per_flow(), " is out of range; use 1..",
                                   kMaxPendingPacketsPerFlow));
  }
  const uint32_t flows = c.flow_cache().max_entries();
  if (flows < 1 || flows > kMaxFlowCacheEntries) {
    return FieldError("flow_cache.max_entries",
                      absl::StrCat(flows, " is out of range; use 1..", kMaxFlowCacheEntries,
                                   " (each entry costs about 150 bytes of kernel memory)"));
  }
  const auto& b = c.new_flow_budget();
  if (b.rate_per_second() > kMaxNewFlowRate) {
    return FieldError("new_flow_budget.rate_per_second",
                      absl::StrCat(b.rate_per_second(), " is out of range; use 0 (no budget)..",
                                   kMaxNewFlowRate));
  }
  if (b.rate_per_second() > 0 && (b.burst() < 1 || b.burst() > kMaxNewFlowBurst)) {
    return FieldError("new_flow_budget.burst",
                      absl::StrCat(b.burst(), " is out of range; use 1..", kMaxNewFlowBurst));
  }
  if (c.decision_log().records_per_second() > kMaxDecisionRecordsPerSecond) {
    return FieldError(
        "decision_log.records_per_second",
        absl::StrCat(c.decision_log().records_per_second(),
                     " is out of range; use 0 (counts only)..", kMaxDecisionRecordsPerSecond,
                     " (each record is a row in the store; beyond the budget decisions are counted "
                     "per rule)"));
  }
  if (c.bpf_pin_dir().empty() || c.bpf_pin_dir().front() != '/') {
    return FieldError("bpf_pin_dir", absl::StrCat("\"", c.bpf_pin_dir(),
                                                  "\" is not an absolute path; use a directory "
                                                  "on bpffs, e.g. /sys/fs/bpf/nfr"));
  }
  if (auto s = ValidateApi(c.api()); !s.ok()) return s;
  if (c.store().db_path().empty()) {
    return FieldError("store.db_path", "empty; use a file path, e.g. /var/lib/nfr/state.db");
  }
  if (c.store().max_policy_versions() > kMaxPolicyVersionsLimit) {
    return FieldError("store.max_policy_versions",
                      absl::StrCat(c.store().max_policy_versions(), " is out of range; use 1..",
                                   kMaxPolicyVersionsLimit));
  }
  if (c.store().max_policy_history_mib() > kMaxPolicyHistoryMibLimit) {
    return FieldError("store.max_policy_history_mib",
                      absl::StrCat(c.store().max_policy_history_mib(), " is out of range; use 1..",
                                   kMaxPolicyHistoryMibLimit));
  }
  if (auto s = ValidateController(c.controller()); !s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace nfr
