#include "agent/policy/policy_validation.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/prefix.h"

namespace nfr {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

bool IsValidRuleId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRuleIdLength) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidatePorts(const google::protobuf::RepeatedPtrField<nfr::v1::PortRange>& ports,
                           absl::string_view field, int limit = kMaxPortRangesPerRule,
                           absl::string_view fix = "merge ranges or use a port set") {
  if (ports.size() > limit) {
    return FieldError(
        field, absl::StrCat(ports.size(), " port ranges exceed the limit of ", limit, "; ", fix));
  }
  for (int i = 0; i < ports.size(); ++i) {
    const auto& r = ports[i];
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (r.first() < 1 || r.first() > 65535) {
      return FieldError(absl::StrCat(f, ".first"),
                        absl::StrCat(r.first(), " is not a port; use 1..65535"));
    }
    if (r.last() != 0 && (r.last() > 65535 || r.last() < r.first())) {
      return FieldError(absl::StrCat(f, ".last"),
                        absl::StrCat(r.last(), " is not a valid range end; use 0 (just first) or ",
                                     r.first(), "..65535"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePrefixes(const google::protobuf::RepeatedPtrField<std::string>& prefixes,
                              absl::string_view field, int limit = kMaxPrefixesPerRule,
                              absl::string_view fix = "put them in a set (Policy.sets)") {
  if (prefixes.size() > limit) {
    return FieldError(
        field, absl::StrCat(prefixes.size(), " prefixes exceed the limit of ", limit, "; ", fix));
  }
  for (int i = 0; i < prefixes.size(); ++i) {
    if (auto p = ParsePrefix(prefixes[i]); !p.ok()) {
      return FieldError(absl::StrCat(field, "[", i, "]"), p.status().message());
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidInterfaceName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceNameLength || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == ',' || c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

absl::Status ValidateRule(const nfr::v1::Rule& rule, absl::string_view f) {
  if (!IsValidRuleId(rule.id())) {
    return FieldError(absl::StrCat(f, ".id"),
                      absl::StrCat("\"", rule.id(), "\" is not a valid rule id; use 1..",
                                   kMaxRuleIdLength, " characters of [A-Za-z0-9_.-]"));
  }
  if (!rule.interface().empty() && !IsValidInterfaceName(rule.interface())) {
    return FieldError(absl::StrCat(f, ".interface"),
                      absl::StrCat("\"", rule.interface(),
                                   "\" is not an interface name; use 1..15 characters without "
                                   "'/', ':', ',' or spaces, or leave it empty for any"));
  }
  if (!nfr::v1::Direction_IsValid(rule.direction())) {
    return FieldError(absl::StrCat(f, ".direction"),
                      absl::StrCat("unknown value ", rule.direction(),
                                   "; use DIRECTION_ANY, DIRECTION_INGRESS or DIRECTION_EGRESS"));
  }
  if (!nfr::v1::Protocol_IsValid(rule.protocol())) {
    return FieldError(absl::StrCat(f, ".protocol"),
                      absl::StrCat("unknown value ", rule.protocol(),
                                   "; use PROTOCOL_ANY, PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_ICMP "
                                   "or PROTOCOL_ICMPV6"));
  }
  if (auto s = ValidatePrefixes(rule.src_prefixes(), absl::StrCat(f, ".src_prefixes")); !s.ok()) {
    return s;
  }
  if (auto s = ValidatePrefixes(rule.dst_prefixes(), absl::StrCat(f, ".dst_prefixes")); !s.ok()) {
    return s;
  }
  struct SetField {
    absl::string_view list, set;
    bool has_list;
    const std::string& name;
  };
  for (const SetField& sf :
       {SetField{"src_prefixes", "src_set", !rule.src_prefixes().empty(), rule.src_set()},
        SetField{"dst_prefixes", "dst_set", !rule.dst_prefixes().empty(), rule.dst_set()},
        SetField{"src_ports", "src_port_set", !rule.src_ports().empty(), rule.src_port_set()},
        SetField{"dst_ports", "dst_port_set", !rule.dst_ports().empty(), rule.dst_port_set()}}) {
    if (sf.has_list && !sf.name.empty()) {
      return FieldError(
          absl::StrCat(f, ".", sf.set),
          absl::StrCat("a rule takes ", sf.list, " or ", sf.set, ", not both; move the ", sf.list,
                       " into set \"", sf.name, "\""));
    }
  }
  const bool has_src_ports = !rule.src_ports().empty() || !rule.src_port_set().empty();
  const bool has_ports = has_src_ports || !rule.dst_ports().empty() || !rule.dst_port_set().empty();
  if (has_ports && rule.protocol() != nfr::v1::PROTOCOL_ANY &&
      rule.protocol() != nfr::v1::PROTOCOL_TCP && rule.protocol() != nfr::v1::PROTOCOL_UDP) {
    const absl::string_view which = !rule.src_ports().empty()      ? ".src_ports"
                                    : !rule.src_port_set().empty() ? ".src_port_set"
                                    : !rule.dst_ports().empty()    ? ".dst_ports"
                                                                   : ".dst_port_set";
    return FieldError(absl::StrCat(f, which),
                      absl::StrCat("ports need protocol PROTOCOL_TCP or PROTOCOL_UDP, not ",
                                   nfr::v1::Protocol_Name(rule.protocol()),
                                   "; remove the ports or change the protocol"));
  }
  if (auto s = ValidatePorts(rule.src_ports(), absl::StrCat(f, ".src_ports")); !s.ok()) return s;
  if (auto s = ValidatePorts(rule.dst_ports(), absl::StrCat(f, ".dst_ports")); !s.ok()) return s;
  if (rule.action() == nfr::v1::ACTION_UNSPECIFIED || !nfr::v1::Action_IsValid(rule.action())) {
    return FieldError(
        absl::StrCat(f, ".action"),
        absl::StrCat(rule.action() == 0 ? "not set" : absl::StrCat("unknown value ", rule.action()),
                     "; use ACTION_ACCEPT, ACTION_DROP or ACTION_ASK"));
  }
  if (rule.ttl_seconds() > kMaxTtlSeconds) {
    return FieldError(absl::StrCat(f, ".ttl_seconds"),
                      absl::StrCat(rule.ttl_seconds(), " exceeds the limit of ", kMaxTtlSeconds,
                                   " (7 days); use a smaller TTL or 0 for the policy's"));
  }
  if (rule.comment().size() > kMaxCommentLength) {
    return FieldError(absl::StrCat(f, ".comment"),
                      absl::StrCat(rule.comment().size(), " bytes exceed the limit of ",
                                   kMaxCommentLength, "; shorten it"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSet(absl::string_view name, const nfr::v1::Set& set, absl::string_view f) {
  if (!IsValidRuleId(name)) {
    return FieldError(f, absl::StrCat("\"", name, "\" is not a valid set name; use 1..",
                                      kMaxRuleIdLength, " characters of [A-Za-z0-9_.-]"));
  }
  if (!set.prefixes().empty() && !set.ports().empty()) {
    return FieldError(f, "a set holds prefixes or ports, not both; split it into two sets");
  }
  if (auto s = ValidatePrefixes(set.prefixes(), absl::StrCat(f, ".prefixes"), kMaxSetPrefixes,
                                "split the set");
      !s.ok()) {
    return s;
  }
  if (auto s =
          ValidatePorts(set.ports(), absl::StrCat(f, ".ports"), kMaxSetPortRanges, "merge ranges");
      !s.ok()) {
    return s;
  }
  if (set.comment().size() > kMaxCommentLength) {
    return FieldError(absl::StrCat(f, ".comment"),
                      absl::StrCat(set.comment().size(), " bytes exceed the limit of ",
                                   kMaxCommentLength, "; shorten it"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status ValidateSets(const nfr::v1::Policy& policy, absl::string_view prefix) {
  if (policy.sets_size() > kMaxSets) {
    return FieldError(
        absl::StrCat(prefix, "sets"),
        absl::StrCat(policy.sets_size(), " sets exceed the limit of ", kMaxSets, "; merge sets"));
  }
  std::vector<absl::string_view> names;
  names.reserve(policy.sets_size());
  for (const auto& [name, set] : policy.sets()) names.push_back(name);
  std::sort(names.begin(), names.end());
  int64_t total = 0;
  for (absl::string_view name : names) {
    const nfr::v1::Set& set = policy.sets().at(std::string(name));
    const std::string f = absl::StrCat(prefix, "sets[\"", name, "\"]");
    if (auto s = ValidateSet(name, set, f); !s.ok()) return s;
    total += set.prefixes_size();
    if (total > kMaxSetPrefixesTotal) {
      return FieldError(absl::StrCat(f, ".prefixes"),
                        absl::StrCat("the sets hold more than ", kMaxSetPrefixesTotal,
                                     " prefixes in all; aggregate prefixes or drop unused sets"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSetReference(const nfr::v1::Policy& policy, const nfr::v1::Rule& rule,
                                  const std::string& name, bool want_ports, absl::string_view f) {
  if (name.empty()) return absl::OkStatus();
  auto it = policy.sets().find(name);
  if (it == policy.sets().end()) {
    return FieldError(f, absl::StrCat("rule \"", rule.id(), "\" refers to set \"", name,
                                      "\", which is not defined; add it to sets or fix the name"));
  }
  if (want_ports && !it->second.prefixes().empty()) {
    return FieldError(
        f,
        absl::StrCat("set \"", name, "\" holds prefixes, not ports; use it in src_set or dst_set"));
  }
  if (!want_ports && !it->second.ports().empty()) {
    return FieldError(
        f, absl::StrCat("set \"", name,
                        "\" holds ports, not prefixes; use it in src_port_set or dst_port_set"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePolicy(const nfr::v1::Policy& policy, absl::string_view prefix) {
  if (policy.rules_size() > kMaxRules) {
    return FieldError(absl::StrCat(prefix, "rules"),
                      absl::StrCat(policy.rules_size(), " rules exceed the limit of ", kMaxRules,
                                   "; merge rules (a rule takes up to ", kMaxPrefixesPerRule,
                                   " prefixes per side, a set up to ", kMaxSetPrefixes, ")"));
  }
  if (auto s = ValidateSets(policy, prefix); !s.ok()) return s;
  absl::flat_hash_set<std::string> ids;
  for (int i = 0; i < policy.rules_size(); ++i) {
    const std::string f = absl::StrCat(prefix, "rules[", i, "]");
    const nfr::v1::Rule& rule = policy.rules(i);
    if (auto s = ValidateRule(rule, f); !s.ok()) return s;
    for (const auto& [name, want_ports, field] :
         {std::tuple<const std::string&, bool, const char*>{rule.src_set(), false, ".src_set"},
          {rule.dst_set(), false, ".dst_set"},
          {rule.src_port_set(), true, ".src_port_set"},
          {rule.dst_port_set(), true, ".dst_port_set"}}) {
      if (auto s = ValidateSetReference(policy, rule, name, want_ports, absl::StrCat(f, field));
          !s.ok()) {
        return s;
      }
    }
    if (!ids.insert(policy.rules(i).id()).second) {
      return FieldError(absl::StrCat(f, ".id"),
                        absl::StrCat("\"", policy.rules(i).id(),
                                     "\" is used by an earlier rule; rule ids must be unique"));
    }
  }
  const auto dv = policy.default_verdict();
  if (dv != nfr::v1::VERDICT_ACCEPT && dv != nfr::v1::VERDICT_DROP) {
    return FieldError(absl::StrCat(prefix, "default_verdict"),
                      absl::StrCat(dv == 0 ? "not set" : absl::StrCat("unknown value ", dv),
                                   "; use VERDICT_ACCEPT or VERDICT_DROP"));
  }
  if (policy.pending_timeout_ms() > kMaxPendingTimeoutMs) {
    return FieldError(
        absl::StrCat(prefix, "pending_timeout_ms"),
        absl::StrCat(policy.pending_timeout_ms(), " exceeds the limit of ", kMaxPendingTimeoutMs,
                     " (10 min); use less or 0 for ", kDefaultPendingTimeoutMs));
  }
  if (policy.flow_ttl_seconds() > kMaxTtlSeconds) {
    return FieldError(
        absl::StrCat(prefix, "flow_ttl_seconds"),
        absl::StrCat(policy.flow_ttl_seconds(), " exceeds the limit of ", kMaxTtlSeconds,
                     " (7 days); use less or 0 for ", kDefaultFlowTtlSeconds));
  }
  return absl::OkStatus();
}

}  // namespace nfr
