#include "agent/policy/compiled_policy.h"

#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"

namespace nfr {
namespace {

template <typename Range>
bool PortIn(uint16_t port, const std::vector<Range>& ranges) {
  for (const auto& r : ranges) {
    if (port >= r.first && port <= r.last) return true;
  }
  return false;
}

bool AddrIn(uint8_t family, const std::array<uint8_t, 16>& addr,
            const std::vector<Prefix>& prefixes) {
  for (const auto& p : prefixes) {
    if (p.Contains(family, addr)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    nfr::v1::Policy policy) {
  if (auto s = ValidatePolicy(policy); !s.ok()) return s;
  auto c = std::shared_ptr<CompiledPolicy>(new CompiledPolicy());
  c->pending_timeout_ = absl::Milliseconds(policy.pending_timeout_ms() ? policy.pending_timeout_ms()
                                                                       : kDefaultPendingTimeoutMs);
  c->flow_ttl_ =
      absl::Seconds(policy.flow_ttl_seconds() ? policy.flow_ttl_seconds() : kDefaultFlowTtlSeconds);
  c->rules_.reserve(policy.rules_size());
  for (const auto& r : policy.rules()) {
    Rule rule;
    rule.id = r.id();
    rule.interface = r.interface();
    rule.direction = r.direction();
    rule.protocol = static_cast<uint8_t>(r.protocol());
    for (const auto& p : r.src_prefixes()) rule.src.push_back(*ParsePrefix(p));
    for (const auto& p : r.dst_prefixes()) rule.dst.push_back(*ParsePrefix(p));
    for (const auto& p : r.src_ports()) {
      rule.sports.push_back({static_cast<uint16_t>(p.first()),
                             static_cast<uint16_t>(p.last() ? p.last() : p.first())});
    }
    for (const auto& p : r.dst_ports()) {
      rule.dports.push_back({static_cast<uint16_t>(p.first()),
                             static_cast<uint16_t>(p.last() ? p.last() : p.first())});
    }
    rule.action = r.action();
    rule.ttl = r.ttl_seconds() ? absl::Seconds(r.ttl_seconds()) : c->flow_ttl_;
    c->rules_.push_back(std::move(rule));
  }
  c->policy_ = std::move(policy);
  return std::shared_ptr<const CompiledPolicy>(std::move(c));
}

bool CompiledPolicy::Matches(const Rule& r, const PacketInfo& p, absl::string_view interface,
                             nfr::v1::Direction direction) {
  if (!r.interface.empty() && r.interface != interface) return false;
  if (r.direction != nfr::v1::DIRECTION_ANY && r.direction != direction) return false;
  if (r.protocol != 0 && r.protocol != p.protocol) return false;
  if (!r.src.empty() && !AddrIn(p.family, p.src, r.src)) return false;
  if (!r.dst.empty() && !AddrIn(p.family, p.dst, r.dst)) return false;
  if (!r.sports.empty() && (!p.has_ports || !PortIn(p.src_port, r.sports))) return false;
  if (!r.dports.empty() && (!p.has_ports || !PortIn(p.dst_port, r.dports))) return false;
  return true;
}

PolicyMatch CompiledPolicy::Match(const PacketInfo& packet, absl::string_view interface,
                                  nfr::v1::Direction direction) const {
  for (const auto& r : rules_) {
    if (Matches(r, packet, interface, direction)) return {r.action, r.id, r.ttl};
  }
  return {
      default_verdict() == nfr::v1::VERDICT_ACCEPT ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP,
      "", flow_ttl_};
}

nfr::v1::Rule RuleForFlow(const nfr::v1::Flow& flow, nfr::v1::Verdict verdict, std::string id) {
  nfr::v1::Rule rule;
  rule.set_id(std::move(id));
  rule.set_interface(flow.interface());
  rule.set_direction(flow.direction());
  rule.set_protocol(flow.protocol());
  const char* host = flow.family() == 6 ? "/128" : "/32";
  rule.add_src_prefixes(absl::StrCat(flow.src_addr(), host));
  rule.add_dst_prefixes(absl::StrCat(flow.dst_addr(), host));
  if ((flow.protocol() == nfr::v1::PROTOCOL_TCP || flow.protocol() == nfr::v1::PROTOCOL_UDP) &&
      flow.dst_port() != 0) {
    rule.add_dst_ports()->set_first(flow.dst_port());
  }
  rule.set_action(verdict == nfr::v1::VERDICT_ACCEPT ? nfr::v1::ACTION_ACCEPT
                                                     : nfr::v1::ACTION_DROP);
  return rule;
}

}  // namespace nfr
