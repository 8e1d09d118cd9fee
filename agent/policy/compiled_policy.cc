#include "agent/policy/compiled_policy.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"

namespace nfr {
namespace {

std::vector<PortInterval> Ports(const google::protobuf::RepeatedPtrField<nfr::v1::PortRange>& in) {
  std::vector<PortInterval> out;
  out.reserve(in.size());
  for (const auto& p : in) {
    out.push_back(
        {static_cast<uint16_t>(p.first()), static_cast<uint16_t>(p.last() ? p.last() : p.first())});
  }
  return out;
}

// Validated input: every prefix parses.
std::vector<Prefix> Prefixes(const google::protobuf::RepeatedPtrField<std::string>& in) {
  std::vector<Prefix> out;
  out.reserve(in.size());
  for (const auto& p : in) out.push_back(*ParsePrefix(p));
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    nfr::v1::Policy policy, absl::string_view field_prefix) {
  if (auto s = ValidatePolicy(policy, field_prefix); !s.ok()) return s;
  auto c = std::shared_ptr<CompiledPolicy>(new CompiledPolicy());
  c->pending_timeout_ = absl::Milliseconds(policy.pending_timeout_ms() ? policy.pending_timeout_ms()
                                                                       : kDefaultPendingTimeoutMs);
  c->flow_ttl_ =
      absl::Seconds(policy.flow_ttl_seconds() ? policy.flow_ttl_seconds() : kDefaultFlowTtlSeconds);
  // Only sets some rule refers to are compiled.
  absl::flat_hash_map<std::string, int> set_ids;
  std::vector<IndexSet> sets;
  auto set_id = [&](const std::string& name) {
    if (name.empty()) return -1;
    auto [it, fresh] = set_ids.try_emplace(name, static_cast<int>(sets.size()));
    if (fresh) {
      const nfr::v1::Set& s = policy.sets().at(name);
      sets.push_back({Prefixes(s.prefixes()), Ports(s.ports())});
    }
    return it->second;
  };
  std::vector<IndexRule> rules;
  rules.reserve(policy.rules_size());
  c->outcomes_.reserve(policy.rules_size());
  for (const auto& r : policy.rules()) {
    IndexRule rule;
    rule.interface = r.interface();
    rule.direction = r.direction();
    rule.protocol = static_cast<uint8_t>(r.protocol());
    rule.src = Prefixes(r.src_prefixes());
    rule.dst = Prefixes(r.dst_prefixes());
    rule.sports = Ports(r.src_ports());
    rule.dports = Ports(r.dst_ports());
    rule.src_set = set_id(r.src_set());
    rule.dst_set = set_id(r.dst_set());
    rule.sport_set = set_id(r.src_port_set());
    rule.dport_set = set_id(r.dst_port_set());
    rules.push_back(std::move(rule));
    c->outcomes_.push_back(
        {r.action(), r.ttl_seconds() ? absl::Seconds(r.ttl_seconds()) : c->flow_ttl_});
  }
  auto index = RuleIndex::Build(rules, sets);
  if (!index.ok()) return index.status();
  c->index_ = *std::move(index);
  for (auto& [name, set] : *policy.mutable_sets()) {
    if (set.prefixes().empty()) continue;
    PackedPrefixes packed;
    packed.name = name;
    size_t bytes = 0;
    for (const auto& p : set.prefixes()) bytes += p.size();
    packed.text.reserve(bytes);
    packed.ends.reserve(set.prefixes_size());
    for (const auto& p : set.prefixes()) {
      packed.text += p;
      packed.ends.push_back(static_cast<uint32_t>(packed.text.size()));
    }
    google::protobuf::RepeatedPtrField<std::string>().Swap(set.mutable_prefixes());
    c->packed_sets_.push_back(std::move(packed));
  }
  c->policy_ = std::move(policy);
  return std::shared_ptr<const CompiledPolicy>(std::move(c));
}

nfr::v1::Policy CompiledPolicy::FullPolicy() const {
  nfr::v1::Policy out = policy_;
  for (const PackedPrefixes& packed : packed_sets_) {
    auto* prefixes = (*out.mutable_sets())[packed.name].mutable_prefixes();
    prefixes->Reserve(static_cast<int>(packed.ends.size()));
    uint32_t begin = 0;
    for (uint32_t end : packed.ends) {
      prefixes->Add()->assign(packed.text, begin, end - begin);
      begin = end;
    }
  }
  return out;
}

PolicyMatch CompiledPolicy::Match(const PacketInfo& packet, absl::string_view interface,
                                  nfr::v1::Direction direction) const {
  const int i = index_.Match(packet, interface, direction);
  if (i >= 0) {
    return {outcomes_[i].action, policy_.rules(i).id(), outcomes_[i].ttl, i};
  }
  return {
      default_verdict() == nfr::v1::VERDICT_ACCEPT ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP,
      "", flow_ttl_, -1};
}

RuleHit CompiledPolicy::Hit(const PacketInfo& packet, absl::string_view interface,
                            nfr::v1::Direction direction) const {
  const int i = index_.Match(packet, interface, direction);
  if (i >= 0) return {outcomes_[i].action, outcomes_[i].ttl, i};
  return {
      default_verdict() == nfr::v1::VERDICT_ACCEPT ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP,
      flow_ttl_, -1};
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
