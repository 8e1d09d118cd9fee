#include "agent/core/core.h"

#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"

namespace nfr {

// The verdict engine's events: decisions are logged, then published.
class Core::Events : public EventSink {
 public:
  Events(DecisionLog* log, EventHub* hub) : log_(log), hub_(hub) {}
  void OnPendingAdded(const nfr::v1::PendingConnection& pending) override {
    hub_->PublishPendingAdded(pending);
  }
  void OnPendingResolved(const nfr::v1::PendingConnection& pending,
                         const nfr::v1::Decision& decision) override {
    hub_->PublishPendingResolved(pending, log_->Record(decision));
  }
  void OnFlowDecided(const nfr::v1::Decision& decision) override {
    hub_->PublishFlowDecided(log_->Record(decision));
  }

 private:
  DecisionLog* const log_;
  EventHub* const hub_;
};

absl::StatusOr<std::unique_ptr<Core>> Core::Open(AgentControl* agent,
                                                 const nfr::v1::StoreConfig& store,
                                                 CoreOptions options) {
  std::unique_ptr<Core> c(new Core());
  c->agent_ = agent;
  absl::StatusOr<std::unique_ptr<Store>> st = Store::Open(store);
  if (!st.ok()) return st.status();
  c->store_ = *std::move(st);
  c->decisions_ = std::make_unique<DecisionLog>(c->store_.get());
  c->policy_ = std::make_unique<PolicyBook>(agent, c->store_.get(), options.max_policy_bytes);
  if (absl::Status s = c->policy_->RestoreOrSeed(); !s.ok()) return s;
  c->hub_ = std::make_unique<EventHub>(options.hub_capacity);
  c->events_ = std::make_unique<Events>(c->decisions_.get(), c->hub_.get());
  c->flows_ = std::make_unique<FlowTable>(agent, c->decisions_.get(), c->hub_.get());
  return c;
}

Core::~Core() { Stop(); }

EventSink* Core::event_sink() { return events_.get(); }

absl::Status Core::CheckDecide(const DecideCommand& c) const {
  if (c.pending_id == 0) {
    return absl::InvalidArgumentError("pending_id: required; take it from nfrctl pending list/watch");
  }
  if (c.verdict != nfr::v1::VERDICT_ACCEPT && c.verdict != nfr::v1::VERDICT_DROP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verdict: ", static_cast<int>(c.verdict), " is not a verdict; use VERDICT_ACCEPT or VERDICT_DROP"));
  }
  if (!nfr::v1::DecisionScope_IsValid(c.scope)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: ", static_cast<int>(c.scope),
                     " is not a scope; use DECISION_SCOPE_ONCE, _FLOW or _RULE"));
  }
  const bool flow = c.scope == nfr::v1::DECISION_SCOPE_FLOW;
  const bool rule = c.scope == nfr::v1::DECISION_SCOPE_RULE;
  if (c.ttl_seconds != 0 && !flow) {
    return absl::InvalidArgumentError("ttl_seconds: only meaningful with scope DECISION_SCOPE_FLOW");
  }
  if (c.ttl_seconds > kMaxTtlSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_seconds: ", c.ttl_seconds, " exceeds the maximum of ", kMaxTtlSeconds, " (7 days)"));
  }
  if (c.reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason: ", c.reason.size(), " bytes exceed the limit of ", kMaxReasonBytes));
  }
  if (!c.rule_id.empty() && !rule) {
    return absl::InvalidArgumentError("rule_id: only meaningful with scope DECISION_SCOPE_RULE");
  }
  return absl::OkStatus();
}

absl::StatusOr<DecideOutcome> Core::Decide(const DecideCommand& c) {
  if (absl::Status s = CheckDecide(c); !s.ok()) return s;
  const absl::Status gone = absl::NotFoundError(
      absl::StrCat("pending_id: no pending connection ", c.pending_id,
                   " (already decided or expired); see nfrctl pending list"));
  std::optional<nfr::v1::PendingConnection> pending = agent_->FindPending(c.pending_id);
  if (!pending.has_value()) return gone;

  DecideOutcome out;
  DecideRequest r;
  r.pending_id = c.pending_id;
  r.verdict = c.verdict;
  r.scope = c.scope == nfr::v1::DECISION_SCOPE_UNSPECIFIED ? nfr::v1::DECISION_SCOPE_ONCE : c.scope;
  r.ttl = absl::Seconds(c.ttl_seconds);
  r.decider = c.decider;
  r.reason = c.reason;
  r.decision_id = decisions_->NextId();
  const bool rule = r.scope == nfr::v1::DECISION_SCOPE_RULE;
  if (rule && !c.rule_id.empty()) {
    const nfr::v1::Policy current = policy_->Current();
    for (const nfr::v1::Rule& existing : current.rules()) {
      if (existing.id() == c.rule_id) {
        return absl::AlreadyExistsError(
            absl::StrCat("rule_id: a rule \"", c.rule_id, "\" already exists; pick another id"));
      }
    }
  }
  // The connection is resolved first: installing the rule re-evaluates pending
  // connections and would otherwise take this one as a policy decision.
  absl::StatusOr<Resolution> resolved = agent_->Decide(r);
  if (!resolved.ok()) {
    return resolved.status().code() == absl::StatusCode::kNotFound ? gone : resolved.status();
  }
  if (rule) {
    absl::StatusOr<PolicyBook::DerivedRule> added =
        policy_->AddRuleForPending(*pending, c.verdict, c.rule_id, c.decider, c.reason);
    if (!added.ok()) {
      // The verdict stands: it is logged and watchers see the connection resolved.
      absl::StatusOr<nfr::v1::Decision> logged = decisions_->RecordDurable(resolved->decision);
      hub_->PublishPendingResolved(resolved->pending,
                                   logged.ok() ? *logged : resolved->decision);
      return absl::Status(added.status().code(),
                          absl::StrCat("the verdict was applied to this connection, but the rule "
                                       "was not added: ", added.status().message()));
    }
    resolved->decision.set_rule_id(added->rule.id());
    out.rule = added->rule;
    out.policy_version = added->policy.version();
  }
  absl::StatusOr<nfr::v1::Decision> logged = decisions_->RecordDurable(resolved->decision);
  // Applied either way (a full disk): watchers see the connection resolved.
  hub_->PublishPendingResolved(resolved->pending, logged.ok() ? *logged : resolved->decision);
  if (!logged.ok()) return logged.status();
  out.decision = *std::move(logged);
  return out;
}

void Core::Flush() {
  hub_->Flush();
  decisions_->Flush();
}

void Core::Stop() {
  if (hub_) hub_->Stop();
  if (store_) store_->Flush();
}

}  // namespace nfr
