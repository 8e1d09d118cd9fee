#include "agent/core/flow_table.h"

#include <iterator>
#include <map>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/core/flow_filter.h"
#include "agent/util/proto_time.h"

namespace nfr {
namespace {

nfr::v1::Verdict VerdictOf(const nfr_flow_value& v) {
  return v.verdict == NFR_VERDICT_ALLOW ? nfr::v1::VERDICT_ACCEPT : nfr::v1::VERDICT_DROP;
}

nfr::v1::FlowOrigin OriginOf(const nfr_flow_value& v) {
  switch (v.origin) {
    case NFR_ORIGIN_POLICY:
      return nfr::v1::FLOW_ORIGIN_POLICY;
    case NFR_ORIGIN_CONTROLLER:
      return nfr::v1::FLOW_ORIGIN_CONTROLLER;
    case NFR_ORIGIN_DEFAULT:
      return nfr::v1::FLOW_ORIGIN_DEFAULT;
    case NFR_ORIGIN_OPERATOR:
      return nfr::v1::FLOW_ORIGIN_OPERATOR;
    default:
      return nfr::v1::FLOW_ORIGIN_UNSPECIFIED;
  }
}

bool Matches(const FlowFilter& f, const CachedFlow& c) {
  return f.Matches(c.flow, VerdictOf(c.value), OriginOf(c.value));
}

// Everything but the interface, on the raw entry (no record built).
bool RawMatches(const FlowFilter& f, const nfr_flow_key& k, const nfr_flow_value& v) {
  if (f.verdict != nfr::v1::VERDICT_UNSPECIFIED && VerdictOf(v) != f.verdict) return false;
  if (f.origin != nfr::v1::FLOW_ORIGIN_UNSPECIFIED && OriginOf(v) != f.origin) return false;
  return f.MatchesKey(k);
}

// Page order and token: the key's bytes.
std::string KeyBytes(const nfr_flow_key& k) {
  return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
}

nfr::v1::FlowEntry EntryOf(const CachedFlow& c, const nfr::v1::Policy& policy) {
  nfr::v1::FlowEntry e;
  *e.mutable_flow() = c.flow;
  e.set_verdict(VerdictOf(c.value));
  e.set_origin(OriginOf(c.value));
  e.set_reply(c.value.flags & NFR_FLOW_F_REPLY);
  switch (c.value.origin) {
    case NFR_ORIGIN_POLICY:
      // Every install re-evaluates policy entries, so the index is the current policy's.
      if (c.value.rule > 0 && c.value.rule <= static_cast<uint32_t>(policy.rules_size())) {
        e.set_rule_id(policy.rules(static_cast<int>(c.value.rule - 1)).id());
      }
      e.set_policy_version(c.value.origin_id);
      break;
    case NFR_ORIGIN_DEFAULT:
      e.set_policy_version(c.value.origin_id);
      break;
    case NFR_ORIGIN_CONTROLLER:
    case NFR_ORIGIN_OPERATOR:
      e.set_decision_id(c.value.origin_id);
      break;
    default:
      break;
  }
  if (c.expires != absl::InfiniteFuture()) *e.mutable_expires() = ToProtoTime(c.expires);
  return e;
}

}  // namespace

absl::StatusOr<nfr::v1::ListFlowsResponse> FlowTable::List(
    const nfr::v1::ListFlowsRequest& req) const {
  absl::StatusOr<FlowFilter> filter = FlowEntryFilterFrom(req.filter());
  if (!filter.ok()) return filter.status();
  if (req.page_size() > kMaxFlowPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: ", req.page_size(),
                                                   " exceeds the maximum of ", kMaxFlowPageSize,
                                                   "; page with next_page_token"));
  }
  const size_t size = req.page_size() ? req.page_size() : kDefaultFlowPageSize;
  std::string after;
  if (!req.page_token().empty() && (!absl::WebSafeBase64Unescape(req.page_token(), &after) ||
                                    after.size() != sizeof(nfr_flow_key))) {
    return absl::InvalidArgumentError("page_token: not a token from a previous ListFlows response");
  }
  // The `size + 1` smallest keys after the token: memory stays bounded by the page.
  std::map<std::string, CachedFlow> page;
  auto want = [&](const nfr_flow_key& key, const nfr_flow_value& v) {
    if (!RawMatches(*filter, key, v)) return false;
    const std::string k = KeyBytes(key);
    if (!after.empty() && k <= after) return false;
    return page.size() <= size || k < page.rbegin()->first;
  };
  absl::Status s = agent_->ForEachFlow(want, [&](const CachedFlow& c) {
    if (!Matches(*filter, c)) return;
    page.emplace(KeyBytes(c.key), c);
    if (page.size() > size + 1) page.erase(std::prev(page.end()));
  });
  if (!s.ok()) return s;
  const nfr::v1::Policy policy = agent_->GetPolicyRules();  // rule ids only
  nfr::v1::ListFlowsResponse out;
  std::string last;
  for (const auto& [k, c] : page) {
    if (static_cast<size_t>(out.flows_size()) == size) {
      out.set_next_page_token(absl::WebSafeBase64Escape(last));  // more after `last`
      break;
    }
    *out.add_flows() = EntryOf(c, policy);
    last = k;
  }
  return out;
}

absl::StatusOr<nfr::v1::ChangeFlowsResponse> FlowTable::Change(const FlowChangeCommand& c) {
  absl::StatusOr<FlowFilter> filter = FlowEntryFilterFrom(c.filter);
  if (!filter.ok()) return filter.status();
  if (c.reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason: ", c.reason.size(), " bytes exceed the limit of ", kMaxReasonBytes));
  }
  if (c.limit > kMaxFlowChanges) {
    return absl::InvalidArgumentError(absl::StrCat("limit: ", c.limit, " exceeds the maximum of ",
                                                   kMaxFlowChanges,
                                                   "; repeat the call for the rest"));
  }
  const size_t limit = c.limit ? c.limit : kMaxFlowChanges;
  const bool deny = c.kind == FlowChangeCommand::kDeny;
  std::vector<CachedFlow> chosen;
  uint32_t matched = 0;
  // Without an interface filter the raw entry decides, and records are built
  // only for the entries that change.
  const bool by_name = !filter->interface.empty();
  auto want = [&](const nfr_flow_key& k, const nfr_flow_value& v) {
    if (deny && v.verdict == NFR_VERDICT_DENY) return false;  // already cut
    if (!RawMatches(*filter, k, v)) return false;
    if (by_name) return true;
    ++matched;
    return chosen.size() < limit;
  };
  absl::Status s = agent_->ForEachFlow(want, [&](const CachedFlow& f) {
    if (by_name) {
      if (!Matches(*filter, f)) return;
      ++matched;
      if (chosen.size() >= limit) return;
    }
    chosen.push_back(f);
  });
  if (!s.ok()) return s;
  nfr::v1::ChangeFlowsResponse out;
  out.set_matched(matched);
  if (chosen.empty()) return out;

  std::vector<uint64_t> ids;
  ids.reserve(chosen.size());
  for (size_t i = 0; i < chosen.size(); ++i) ids.push_back(log_->NextId());
  absl::Duration ttl = absl::ZeroDuration();
  if (deny) {
    absl::StatusOr<absl::Duration> t = agent_->DenyFlows(chosen, ids);
    if (!t.ok()) return t.status();
    ttl = *t;
  } else if (absl::Status f = agent_->ForgetFlows(chosen); !f.ok()) {
    return f;
  }
  for (size_t i = 0; i < chosen.size(); ++i) {
    nfr::v1::Decision d;
    d.set_id(ids[i]);
    *d.mutable_time() = ToProtoTime(absl::Now());
    *d.mutable_flow() = chosen[i].flow;
    // A forgotten flow has no verdict: its next packet is decided again.
    d.set_verdict(deny ? nfr::v1::VERDICT_DROP : nfr::v1::VERDICT_UNSPECIFIED);
    d.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
    d.set_source(nfr::v1::DECISION_SOURCE_OPERATOR);
    d.set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(ttl)));
    d.set_decider(c.decider);
    d.set_reason(c.reason.empty() ? (deny ? "flow denied" : "flow entry deleted") : c.reason);
    hub_->PublishFlowDecided(log_->Record(std::move(d)));
  }
  log_->Flush();
  out.set_changed(static_cast<uint32_t>(chosen.size()));
  return out;
}

}  // namespace nfr
