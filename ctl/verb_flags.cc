#include "ctl/verb_flags.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/util/proto_time.h"

namespace nfrctl {

bool JsonOutput(const Args& a) { return a.Get("output", "table") == "json"; }

bool ParseProtocol(const std::string& s, nfr::v1::Protocol* p) {
  static const std::map<std::string, nfr::v1::Protocol> m = {{"any", nfr::v1::PROTOCOL_ANY},
                                                             {"tcp", nfr::v1::PROTOCOL_TCP},
                                                             {"udp", nfr::v1::PROTOCOL_UDP},
                                                             {"icmp", nfr::v1::PROTOCOL_ICMP},
                                                             {"icmpv6", nfr::v1::PROTOCOL_ICMPV6}};
  auto it = m.find(absl::AsciiStrToLower(s));
  if (it == m.end()) return false;
  *p = it->second;
  return true;
}

bool ParseVerdict(const std::string& s, nfr::v1::Verdict* v) {
  const std::string l = absl::AsciiStrToLower(s);
  if (l == "accept" || l == "allow")
    *v = nfr::v1::VERDICT_ACCEPT;
  else if (l == "drop" || l == "deny")
    *v = nfr::v1::VERDICT_DROP;
  else
    return false;
  return true;
}

bool ParseDurationArg(const std::string& s, absl::Duration* d) {
  if (!s.empty() && s.back() == 'd') {
    int64_t days;
    if (!absl::SimpleAtoi(s.substr(0, s.size() - 1), &days)) return false;
    *d = absl::Hours(24 * days);
    return true;
  }
  return absl::ParseDuration(s, d);
}

bool ParseWhen(const std::string& s, google::protobuf::Timestamp* t) {
  absl::Time at;
  absl::Duration ago;
  std::string err;
  if (ParseDurationArg(s, &ago)) {
    at = absl::Now() - ago;
  } else if (!absl::ParseTime(absl::RFC3339_full, s, &at, &err)) {
    return false;
  }
  *t = nfr::ToProtoTime(at);
  return true;
}

bool ParsePorts(const std::vector<std::string>& in,
                google::protobuf::RepeatedPtrField<nfr::v1::PortRange>* out, std::string* err) {
  for (const std::string& p : in) {
    std::vector<std::string> ab = absl::StrSplit(p, '-');
    uint32_t first = 0, last = 0;
    if (ab.size() > 2 || !absl::SimpleAtoi(ab[0], &first) ||
        (ab.size() == 2 && !absl::SimpleAtoi(ab[1], &last))) {
      *err = "port \"" + p + "\" is not PORT or FIRST-LAST";
      return false;
    }
    auto* r = out->Add();
    r->set_first(first);
    r->set_last(last);
  }
  return true;
}

bool PendingFilterFrom(const Args& a, nfr::v1::PendingFilter* f, std::string* err) {
  f->set_interface(a.Get("interface"));
  f->set_prefix(a.Get("prefix"));
  if (a.Has("protocol")) {
    nfr::v1::Protocol p;
    if (!ParseProtocol(a.Get("protocol"), &p)) {
      *err = "--protocol must be tcp, udp, icmp, icmpv6 or any";
      return false;
    }
    f->set_protocol(p);
  }
  return true;
}

bool DecisionFilterFrom(const Args& a, nfr::v1::DecisionFilter* f, std::string* err) {
  f->set_prefix(a.Get("prefix"));
  if (a.Has("verdict")) {
    nfr::v1::Verdict v;
    if (!ParseVerdict(a.Get("verdict"), &v)) {
      *err = "--verdict must be accept or drop";
      return false;
    }
    f->set_verdict(v);
  }
  if (a.Has("source")) {
    static const std::map<std::string, nfr::v1::DecisionSource> m = {
        {"policy", nfr::v1::DECISION_SOURCE_POLICY},
        {"controller", nfr::v1::DECISION_SOURCE_CONTROLLER},
        {"timeout", nfr::v1::DECISION_SOURCE_TIMEOUT},
        {"overflow", nfr::v1::DECISION_SOURCE_OVERFLOW},
        {"operator", nfr::v1::DECISION_SOURCE_OPERATOR}};
    auto it = m.find(a.Get("source"));
    if (it == m.end()) {
      *err = "--source must be policy, controller, timeout, overflow or operator";
      return false;
    }
    f->set_source(it->second);
  }
  if (a.Has("since") && !ParseWhen(a.Get("since"), f->mutable_since())) {
    *err = "--since must be a duration ago (30m, 2h, 7d) or an RFC 3339 time";
    return false;
  }
  if (a.Has("until") && !ParseWhen(a.Get("until"), f->mutable_until())) {
    *err = "--until must be a duration ago (30m, 2h, 7d) or an RFC 3339 time";
    return false;
  }
  return true;
}

bool FlowFilterFrom(const Args& a, nfr::v1::FlowEntryFilter* f, std::string* err) {
  nfr::v1::PendingFilter p;
  if (!PendingFilterFrom(a, &p, err)) return false;
  f->set_interface(p.interface());
  f->set_protocol(p.protocol());
  f->set_prefix(p.prefix());
  if (a.Has("verdict")) {
    nfr::v1::Verdict v;
    if (!ParseVerdict(a.Get("verdict"), &v)) {
      *err = "--verdict must be accept or drop";
      return false;
    }
    f->set_verdict(v);
  }
  if (a.Has("origin")) {
    static const std::map<std::string, nfr::v1::FlowOrigin> m = {
        {"policy", nfr::v1::FLOW_ORIGIN_POLICY},
        {"controller", nfr::v1::FLOW_ORIGIN_CONTROLLER},
        {"default", nfr::v1::FLOW_ORIGIN_DEFAULT},
        {"operator", nfr::v1::FLOW_ORIGIN_OPERATOR}};
    auto it = m.find(a.Get("origin"));
    if (it == m.end()) {
      *err = "--origin must be policy, controller, default or operator";
      return false;
    }
    f->set_origin(it->second);
  }
  return true;
}

bool CountFlag(const Args& a, int64_t* count) {
  *count = -1;
  return !a.Has("count") || absl::SimpleAtoi(a.Get("count"), count);
}

bool ForFlag(const Args& a, uint32_t* ttl) {
  *ttl = 0;
  if (!a.Has("for")) return true;
  absl::Duration d;
  if (!ParseDurationArg(a.Get("for"), &d) || d <= absl::ZeroDuration()) return false;
  *ttl = static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  return true;
}

}  // namespace nfrctl
