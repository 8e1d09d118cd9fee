#include "ctl/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/util/proto_time.h"
#include "ctl/args.h"

namespace nfrctl {

std::string Table(const Row& header, const std::vector<Row>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const Row& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const Row& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(w[i] - r[i].size() + 2, ' ');
    }
    return s + "\n";
  };
  std::string out = line(header);
  for (const Row& r : rows) out += line(r);
  return out;
}

std::string Json(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.preserve_proto_field_names = true;
  std::string s;
  const auto st = google::protobuf::util::MessageToJsonString(m, &s, o);
  if (!st.ok()) {
    // Half an object on stdout would pass for an answer: say why and stop.
    std::fprintf(stderr, "nfrctl: cannot print the agent's %s as JSON: %s\n",
                 m.GetTypeName().c_str(), std::string(st.message()).c_str());
    std::exit(kExitRpc);
  }
  return s;
}

namespace {

// The short name of enum value `v`, or `fallback`.
template <typename E>
std::string NameOf(E v, std::initializer_list<std::pair<E, const char*>> names,
                   std::string fallback = "-") {
  for (const auto& [value, name] : names) {
    if (value == v) return name;
  }
  return fallback;
}

}  // namespace

std::string VerdictName(nfr::v1::Verdict v) {
  return NameOf(v, {{nfr::v1::VERDICT_ACCEPT, "accept"}, {nfr::v1::VERDICT_DROP, "drop"}});
}

std::string ActionName(nfr::v1::Action a) {
  return NameOf(a, {{nfr::v1::ACTION_ACCEPT, "accept"},
                    {nfr::v1::ACTION_DROP, "drop"},
                    {nfr::v1::ACTION_ASK, "ask"}});
}

std::string ScopeName(nfr::v1::DecisionScope s) {
  return NameOf(s, {{nfr::v1::DECISION_SCOPE_ONCE, "once"},
                    {nfr::v1::DECISION_SCOPE_FLOW, "flow"},
                    {nfr::v1::DECISION_SCOPE_RULE, "rule"}});
}

std::string SourceName(nfr::v1::DecisionSource s) {
  return NameOf(s, {{nfr::v1::DECISION_SOURCE_POLICY, "policy"},
                    {nfr::v1::DECISION_SOURCE_CONTROLLER, "controller"},
                    {nfr::v1::DECISION_SOURCE_TIMEOUT, "timeout"},
                    {nfr::v1::DECISION_SOURCE_OVERFLOW, "overflow"},
                    {nfr::v1::DECISION_SOURCE_OPERATOR, "operator"}});
}

std::string ProtocolName(nfr::v1::Protocol p) {
  return NameOf(p,
                {{nfr::v1::PROTOCOL_ANY, "any"},
                 {nfr::v1::PROTOCOL_TCP, "tcp"},
                 {nfr::v1::PROTOCOL_UDP, "udp"},
                 {nfr::v1::PROTOCOL_ICMP, "icmp"},
                 {nfr::v1::PROTOCOL_ICMPV6, "icmpv6"}},
                absl::StrCat(static_cast<int>(p)));
}

std::string DirectionName(nfr::v1::Direction d) {
  return NameOf(d, {{nfr::v1::DIRECTION_INGRESS, "ingress"}, {nfr::v1::DIRECTION_EGRESS, "egress"}},
                "any");
}

std::string Endpoint(const std::string& addr, uint32_t port, bool with_port) {
  if (!with_port) return addr;
  if (addr.find(':') != std::string::npos) return absl::StrCat("[", addr, "]:", port);
  return absl::StrCat(addr, ":", port);
}

std::string FlowText(const nfr::v1::Flow& f) {
  const bool ports = f.protocol() == nfr::v1::PROTOCOL_TCP || f.protocol() == nfr::v1::PROTOCOL_UDP;
  return absl::StrCat(ProtocolName(f.protocol()), " ", Endpoint(f.src_addr(), f.src_port(), ports),
                      " -> ", Endpoint(f.dst_addr(), f.dst_port(), ports), " dev ",
                      f.interface().empty() ? "?" : f.interface(), " ",
                      DirectionName(f.direction()));
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  const absl::Time at = nfr::FromProtoTime(t);
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", at, absl::UTCTimeZone());
}

std::string Until(const google::protobuf::Timestamp& t) {
  const absl::Time at = nfr::FromProtoTime(t);
  const absl::Duration d = at - absl::Now();
  if (d <= absl::ZeroDuration()) return "due";
  return absl::StrCat(absl::ToDoubleSeconds(d) < 10
                          ? absl::StrFormat("%.1fs", absl::ToDoubleSeconds(d))
                          : absl::StrCat(absl::ToInt64Seconds(d), "s"));
}

Row PendingHeader() {
  return {"ID", "PROTO", "SOURCE", "DESTINATION", "DEV", "DIR", "PKTS", "DECIDE WITHIN", "RULE"};
}

Row PendingRow(const nfr::v1::PendingConnection& p) {
  const nfr::v1::Flow& f = p.flow();
  const bool ports = f.protocol() == nfr::v1::PROTOCOL_TCP || f.protocol() == nfr::v1::PROTOCOL_UDP;
  return {absl::StrCat(p.id()),
          ProtocolName(f.protocol()),
          Endpoint(f.src_addr(), f.src_port(), ports),
          Endpoint(f.dst_addr(), f.dst_port(), ports),
          f.interface(),
          DirectionName(f.direction()),
          absl::StrCat(p.packets()),
          Until(p.deadline()),
          p.rule_id().empty() ? "-" : p.rule_id()};
}

std::string OriginName(nfr::v1::FlowOrigin o) {
  return NameOf(o, {{nfr::v1::FLOW_ORIGIN_POLICY, "policy"},
                    {nfr::v1::FLOW_ORIGIN_CONTROLLER, "controller"},
                    {nfr::v1::FLOW_ORIGIN_DEFAULT, "default"},
                    {nfr::v1::FLOW_ORIGIN_OPERATOR, "operator"}});
}

Row FlowEntryHeader() {
  return {"PROTO", "SOURCE", "DESTINATION", "DEV", "DIR", "VERDICT", "ORIGIN", "BY", "EXPIRES IN"};
}

Row FlowEntryRow(const nfr::v1::FlowEntry& e) {
  const nfr::v1::Flow& f = e.flow();
  const bool ports = f.protocol() == nfr::v1::PROTOCOL_TCP || f.protocol() == nfr::v1::PROTOCOL_UDP;
  std::string by = "-";
  switch (e.origin()) {
    case nfr::v1::FLOW_ORIGIN_POLICY:
      by = absl::StrCat(e.rule_id().empty() ? "default verdict" : "rule " + e.rule_id(), " v",
                        e.policy_version());
      break;
    case nfr::v1::FLOW_ORIGIN_DEFAULT:
      by = absl::StrCat("timeout v", e.policy_version());
      break;
    case nfr::v1::FLOW_ORIGIN_CONTROLLER:
    case nfr::v1::FLOW_ORIGIN_OPERATOR:
      by = absl::StrCat("decision ", e.decision_id());
      break;
    default:
      break;
  }
  return {ProtocolName(f.protocol()),
          Endpoint(f.src_addr(), f.src_port(), ports),
          Endpoint(f.dst_addr(), f.dst_port(), ports),
          f.interface(),
          absl::StrCat(DirectionName(f.direction()), e.reply() ? " (reply)" : ""),
          VerdictName(e.verdict()),
          OriginName(e.origin()),
          by,
          e.has_expires() ? Until(e.expires()) : "never"};
}

Row DecisionHeader() {
  return {"ID", "TIME (UTC)", "VERDICT", "SCOPE", "SOURCE", "FLOW", "RULE", "DECIDER", "REASON"};
}

Row DecisionRow(const nfr::v1::Decision& d) {
  return {absl::StrCat(d.id()),
          TimeText(d.time()),
          VerdictName(d.verdict()),
          ScopeName(d.scope()),
          SourceName(d.source()),
          FlowText(d.flow()),
          d.rule_id().empty() ? "-" : d.rule_id(),
          d.decider().empty() ? "-" : d.decider(),
          d.reason()};
}

namespace {

std::string Ports(const google::protobuf::RepeatedPtrField<nfr::v1::PortRange>& ports) {
  std::vector<std::string> out;
  for (const auto& r : ports) {
    out.push_back(r.last() && r.last() != r.first() ? absl::StrCat(r.first(), "-", r.last())
                                                    : absl::StrCat(r.first()));
  }
  return out.empty() ? "any" : absl::StrJoin(out, ",");
}

std::string List(const google::protobuf::RepeatedPtrField<std::string>& v) {
  return v.empty() ? "any" : absl::StrJoin(v, ",");
}

}  // namespace

std::string PolicyTable(const nfr::v1::Policy& p) {
  std::vector<Row> rows;
  for (const nfr::v1::Rule& r : p.rules()) {
    rows.push_back({r.id(), ActionName(r.action()), r.interface().empty() ? "any" : r.interface(),
                    DirectionName(r.direction()), ProtocolName(r.protocol()),
                    List(r.src_prefixes()), Ports(r.src_ports()), List(r.dst_prefixes()),
                    Ports(r.dst_ports()),
                    r.ttl_seconds() ? absl::StrCat(r.ttl_seconds(), "s") : "-", r.comment()});
  }
  return absl::StrCat(
      "policy version ", p.version(), ": default ", VerdictName(p.default_verdict()),
      ", pending timeout ", p.pending_timeout_ms() ? p.pending_timeout_ms() : 5000, "ms, flow ttl ",
      p.flow_ttl_seconds() ? p.flow_ttl_seconds() : 300, "s\n",
      Table(
          {"ID", "ACTION", "DEV", "DIR", "PROTO", "SRC", "SPORT", "DST", "DPORT", "TTL", "COMMENT"},
          rows));
}

std::string StatusText(const nfr::v1::AgentStatus& s) {
  std::string out;
  absl::StrAppend(&out, "version:     ", s.version(), "\n");
  absl::StrAppend(&out, "mode:        ", s.mode(),
                  s.compat_backend().empty() ? "" : absl::StrCat(" (", s.compat_backend(), ")"),
                  "\n");
  absl::StrAppend(&out, "kernel:      ", s.kernel_capability(), "\n");
  absl::StrAppend(&out, "interfaces:  ", absl::StrJoin(s.interfaces(), ", "), "\n");
  absl::StrAppend(&out, "queues:      ", absl::StrJoin(s.queues(), ", "), "\n");
  absl::StrAppend(&out, "uptime:      ",
                  absl::FormatDuration(absl::Seconds(static_cast<int64_t>(s.uptime_seconds()))),
                  "\n");
  absl::StrAppend(&out, "policy:      version ", s.policy_version(), "\n");
  absl::StrAppend(&out, "you:         ", s.caller(), " (", s.caller_role(), ")\n");
  const nfr::v1::AgentCounters& c = s.counters();
  absl::StrAppend(&out, "verdicts:    ", c.verdicts_accept(), " accept, ", c.verdicts_drop(),
                  " drop; queued packets ", c.queued_packets(), ", enobufs ", c.enobufs(), "\n");
  for (const nfr::v1::QueueStatus& q : s.queue_status()) {
    absl::StrAppend(&out, "queue ", q.num(), ":  ", q.received(), " received, ", q.accepted(),
                    " accept, ", q.dropped(), " drop, ", q.held(),
                    " held; overflow: ", q.fail_open() ? "accept" : "drop", ", ");
    if (q.kernel_stats()) {
      absl::StrAppend(&out, q.queue_dropped() + q.user_dropped(), " dropped full (queue ",
                      q.queue_dropped(), ", socket ", q.user_dropped(), "), ", q.waiting(),
                      " waiting");
    } else {
      absl::StrAppend(&out, "kernel counters unreadable");
    }
    absl::StrAppend(&out, ", enobufs ", q.enobufs(), "\n");
  }
  absl::StrAppend(&out, "pending:     ", c.pending_now(), " now, ", c.pending_expired(),
                  " expired, ", c.pending_overflow(), " overflow\n");
  absl::StrAppend(&out, "api:         ", c.watchers(), " watchers, ", c.events_lost(),
                  " events lost; ", c.decisions_logged(), " decisions logged, ",
                  c.decision_log_overflow(), " not logged (writer full)\n");
  if (!s.api_tcp_connection_cap().empty()) {
    absl::StrAppend(&out, "tcp cap:     ", s.api_tcp_connection_cap());
    if (c.api_tcp_connections_reset() > 0) {
      absl::StrAppend(&out, "; ", c.api_tcp_connections_reset(), " connections reset");
    }
    absl::StrAppend(&out, "\n");
  }
  if (c.policy_decisions_unlogged() > 0) {
    std::vector<std::pair<std::string, uint64_t>> rules(c.unlogged_by_rule().begin(),
                                                        c.unlogged_by_rule().end());
    std::sort(rules.begin(), rules.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> top;
    for (size_t i = 0; i < rules.size() && i < 5; ++i) {
      top.push_back(
          absl::StrCat(rules[i].first.empty() ? "default" : rules[i].first, "=", rules[i].second));
    }
    absl::StrAppend(
        &out, "sampled:     ", c.policy_decisions_unlogged(),
        " policy decisions counted, not logged one by one (over decision_log.records_per_second): ",
        absl::StrJoin(top, " "), rules.size() > 5 ? " ..." : "", "\n");
  }
  std::vector<std::pair<std::string, uint64_t>> bpf(c.bpf().begin(), c.bpf().end());
  std::sort(bpf.begin(), bpf.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : bpf) parts.push_back(absl::StrCat(k, "=", v));
  absl::StrAppend(&out, "bpf:         ", absl::StrJoin(parts, " "), "\n");
  if (s.has_link()) {
    const nfr::v1::LinkStatus& l = s.link();
    absl::StrAppend(&out, "link:        ", l.target(),
                    l.connected() ? absl::StrCat(" up since ", TimeText(l.connected_since()),
                                                 " (gateway ", l.gateway(), ")")
                                  : absl::StrCat(" down: ", l.last_error()),
                    "; ", c.link_decisions_uploaded(), " decisions uploaded (acked up to ",
                    l.acked_decision_id(), "), ", c.link_requests(), " requests answered\n");
  }
  return out;
}

}  // namespace nfrctl
