#include "agent/core/flow_filter.h"

#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"

namespace nfr {

bool AddrInRange(const std::string& addr, const AddrRange& range) {
  std::optional<AddrKey> k = AddressKey(addr);
  return k && *k >= range.lo && *k <= range.hi;
}

bool FlowFilter::Matches(const nfr::v1::Flow& flow) const {
  if (!interface.empty() && flow.interface() != interface) return false;
  if (protocol != nfr::v1::PROTOCOL_ANY && flow.protocol() != protocol) return false;
  if (prefix && !AddrInRange(flow.src_addr(), *prefix) && !AddrInRange(flow.dst_addr(), *prefix)) {
    return false;
  }
  return true;
}

namespace {

AddrKey KeyOfWords(uint8_t family, const __be32 words[4]) {
  AddrKey k{};
  if (family == AF_INET) {
    k[10] = 0xff;
    k[11] = 0xff;
    std::memcpy(&k[12], &words[0], 4);
  } else {
    std::memcpy(k.data(), words, 16);
  }
  return k;
}

bool InRange(const AddrKey& k, const AddrRange& r) { return k >= r.lo && k <= r.hi; }

}  // namespace

bool FlowFilter::MatchesKey(const nfr_flow_key& key) const {
  if (protocol != nfr::v1::PROTOCOL_ANY && key.proto != static_cast<uint8_t>(protocol)) {
    return false;
  }
  return !prefix || InRange(KeyOfWords(key.family, key.saddr), *prefix) ||
         InRange(KeyOfWords(key.family, key.daddr), *prefix);
}

bool FlowFilter::Matches(const nfr::v1::Decision& d) const {
  if (verdict != nfr::v1::VERDICT_UNSPECIFIED && d.verdict() != verdict) return false;
  if (source != nfr::v1::DECISION_SOURCE_UNSPECIFIED && d.source() != source) return false;
  return Matches(d.flow());
}

bool FlowFilter::Matches(const nfr::v1::Flow& flow, nfr::v1::Verdict v,
                         nfr::v1::FlowOrigin o) const {
  if (verdict != nfr::v1::VERDICT_UNSPECIFIED && v != verdict) return false;
  if (origin != nfr::v1::FLOW_ORIGIN_UNSPECIFIED && o != origin) return false;
  return Matches(flow);
}

absl::StatusOr<FlowFilter> PendingFilterFrom(const nfr::v1::PendingFilter& f) {
  FlowFilter out;
  if (!f.interface().empty() && !IsValidInterfaceName(f.interface())) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.interface: \"", f.interface(), "\" is not an interface name"));
  }
  out.interface = f.interface();
  if (absl::Status s = CheckProtocol(f.protocol(), "filter.protocol"); !s.ok()) return s;
  out.protocol = f.protocol();
  absl::StatusOr<std::optional<AddrRange>> p = ParseFilterPrefix(f.prefix(), "filter.prefix");
  if (!p.ok()) return p.status();
  out.prefix = *p;
  return out;
}

absl::StatusOr<FlowFilter> DecisionFilterFrom(const nfr::v1::DecisionFilter& f) {
  FlowFilter out;
  if (absl::Status s = CheckVerdict(f.verdict(), "filter.verdict", true); !s.ok()) return s;
  out.verdict = f.verdict();
  if (!nfr::v1::DecisionSource_IsValid(f.source())) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.source: ", static_cast<int>(f.source()),
                     " is not a decision source; use POLICY, CONTROLLER, TIMEOUT, OVERFLOW or "
                     "OPERATOR"));
  }
  out.source = f.source();
  absl::StatusOr<std::optional<AddrRange>> p = ParseFilterPrefix(f.prefix(), "filter.prefix");
  if (!p.ok()) return p.status();
  out.prefix = *p;
  return out;
}

absl::StatusOr<FlowFilter> FlowEntryFilterFrom(const nfr::v1::FlowEntryFilter& f) {
  nfr::v1::PendingFilter pending;
  pending.set_interface(f.interface());
  pending.set_protocol(f.protocol());
  pending.set_prefix(f.prefix());
  absl::StatusOr<FlowFilter> out = PendingFilterFrom(pending);
  if (!out.ok()) return out.status();
  if (absl::Status s = CheckVerdict(f.verdict(), "filter.verdict", true); !s.ok()) return s;
  out->verdict = f.verdict();
  if (!nfr::v1::FlowOrigin_IsValid(f.origin())) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.origin: ", static_cast<int>(f.origin()),
                     " is not a flow origin; use POLICY, CONTROLLER, DEFAULT or OPERATOR"));
  }
  out->origin = f.origin();
  return out;
}

absl::StatusOr<std::optional<AddrRange>> ParseFilterPrefix(absl::string_view text,
                                                           absl::string_view field) {
  if (text.empty()) return std::optional<AddrRange>();
  absl::StatusOr<AddrRange> r = ParseAddrRange(text);
  if (!r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", r.status().message()));
  }
  return std::optional<AddrRange>(*r);
}

absl::Status CheckProtocol(int value, absl::string_view field) {
  if (nfr::v1::Protocol_IsValid(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown protocol ", value,
                                                 "; use PROTOCOL_ANY, TCP, UDP, ICMP or ICMPV6"));
}

absl::Status CheckVerdict(int value, absl::string_view field, bool allow_unspecified) {
  if (value == nfr::v1::VERDICT_ACCEPT || value == nfr::v1::VERDICT_DROP ||
      (allow_unspecified && value == nfr::v1::VERDICT_UNSPECIFIED)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", value,
                                                 " is not a verdict; use VERDICT_ACCEPT or "
                                                 "VERDICT_DROP"));
}

}  // namespace nfr
