#include "fleetd/catch_up.h"

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "agent/util/proto_time.h"
#include "fleetd/rollout_result.h"
#include "fleetd/selector.h"

namespace nfr {

void GroupCatchUp::Attached(const std::string& id, const nfr::v1::Hello& hello) {
  std::optional<GroupHead> want;
  for (GroupHead& h : store_->GroupHeads()) {
    absl::StatusOr<Selector> sel = Selector::Parse(h.selector, "selector");
    if (sel.ok() && sel->Matches(hello.labels())) {
      want = std::move(h);
      break;
    }
  }
  if (!want.has_value()) return;
  const std::map<std::string, uint64_t> held = store_->AgentGroups(id);
  if (auto it = held.find(want->selector); it != held.end() && it->second == want->version) return;
  absl::StatusOr<nfr::v1::Policy> policy = store_->GroupPolicy(want->selector, want->version);
  if (!policy.ok()) return;  // replaced meanwhile: that rollout reached the agents it could

  const uint64_t agent_version = hello.status().policy_version();
  nfr::v1::LinkRequest lr;
  lr.set_caller("catch-up");
  nfr::v1::ApplyPolicyRequest* ap = lr.mutable_apply_policy();
  *ap->mutable_policy() = *std::move(policy);
  ap->set_expected_version(agent_version);
  ap->set_comment(
      absl::StrCat("fleet catch-up \"", want->selector, "\" group v", want->version, " on attach"));
  const absl::Time sent = absl::Now();
  FleetStore* store = store_;
  Registry* registry = registry_;
  registry_->Call(
      id, std::move(lr), timeout_,
      [store, registry, id, sent, agent_version,
       head = *want](absl::StatusOr<nfr::v1::LinkResponse> out) {
        nfr::v1::RolloutResponse resp;
        resp.set_group_version(head.version);
        nfr::v1::RolloutResult* r = resp.add_results();
        r->set_agent_id(id);
        const uint32_t ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(absl::Now() - sent));
        r->set_latency_ms(ms);
        resp.set_elapsed_ms(ms);
        SetRolloutOutcome(out, r);
        nfr::v1::RolloutRecord rec;
        rec.set_selector(head.selector);
        rec.set_group_version(head.version);
        rec.set_author("nfr-fleetd catch-up");
        rec.set_comment(absl::StrCat("agent ", id, " attached at policy v", agent_version,
                                     " without group v", head.version));
        *rec.mutable_time() = ToProtoTime(absl::Now());
        rec.set_agents(1);
        rec.set_failed(r->ok() ? 0 : 1);
        absl::StatusOr<uint64_t> rid = store->RecordCatchUp(rec, resp);
        registry->counters().rollouts++;
        LogLine(absl::StrCat("nfr-fleetd: catch-up ",
                             rid.ok() ? absl::StrCat(*rid) : rid.status().ToString(), ": agent ",
                             id, " to group \"", head.selector, "\" v", head.version, ": ",
                             r->ok() ? absl::StrCat("applied as policy v", r->applied_version())
                                     : absl::StrCat("failed: ", r->error()),
                             " in ", ms, " ms"));
      });
}

}  // namespace nfr
