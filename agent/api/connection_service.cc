#include "agent/api/connection_service.h"

#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "agent/api/failed_stream.h"
#include "agent/api/flow_filter.h"
#include "agent/api/policy_commit.h"
#include "agent/api/request_validation.h"
#include "agent/api/watch_stream.h"
#include "agent/policy/policy_validation.h"

namespace nfr {
namespace {

using nfr::v1::PendingEvent;

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

void SetNow(google::protobuf::Timestamp* t) {
  const int64_t us = absl::ToUnixMicros(absl::Now());
  t->set_seconds(us / 1000000);
  t->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

absl::StatusOr<FlowFilter> ParsePendingFilter(const nfr::v1::PendingFilter& f) {
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

// Snapshot first, then live events; ids are tracked so a connection is
// reported once and a resolution is only sent for a connection the client saw.
class PendingWatch final : public WatchStream<PendingEvent> {
 public:
  PendingWatch(EventHub* hub, size_t capacity, FlowFilter filter, std::atomic<uint64_t>* lost)
      : WatchStream(hub, capacity, lost), filter_(std::move(filter)) {}

  void TakeSnapshot(const std::vector<nfr::v1::PendingConnection>& now) {
    std::unique_lock<std::mutex> l(mu_);
    std::deque<PendingEvent> front;
    for (const nfr::v1::PendingConnection& p : now) {
      if (!filter_.Matches(p.flow())) continue;
      PendingEvent e;
      SetNow(e.mutable_time());
      *e.mutable_snapshot() = p;
      seen_.insert(p.id());
      front.push_back(std::move(e));
    }
    PendingEvent done;
    SetNow(done.mutable_time());
    done.mutable_snapshot_done()->set_count(static_cast<uint32_t>(front.size()));
    front.push_back(std::move(done));
    PushFrontLocked(std::move(front));
    snapshot_taken_ = true;
    std::vector<std::shared_ptr<const HubEvent>> early;
    early.swap(early_);
    for (const auto& ev : early) {
      if (std::optional<PendingEvent> m = ConvertLocked(*ev)) EnqueueLocked(std::move(*m));
    }
    KickLocked(l);
  }

 protected:
  std::optional<PendingEvent> ConvertLocked(const HubEvent& ev) override {
    if (ev.kind == HubEvent::kFlowDecided) return std::nullopt;
    if (!snapshot_taken_) {
      early_.push_back(std::make_shared<const HubEvent>(ev));
      return std::nullopt;
    }
    const uint64_t id = ev.pending.id();
    PendingEvent e;
    SetNow(e.mutable_time());
    if (ev.kind == HubEvent::kPendingAdded) {
      if (!filter_.Matches(ev.pending.flow()) || !seen_.insert(id).second) return std::nullopt;
      *e.mutable_added() = ev.pending;
      return e;
    }
    if (seen_.erase(id) == 0) return std::nullopt;
    nfr::v1::PendingResolved* r =
        ev.kind == HubEvent::kPendingExpired ? e.mutable_expired() : e.mutable_resolved();
    *r->mutable_pending() = ev.pending;
    *r->mutable_decision() = ev.decision;
    return e;
  }

 private:
  const FlowFilter filter_;
  bool snapshot_taken_ = false;
  std::vector<std::shared_ptr<const HubEvent>> early_;
  std::unordered_set<uint64_t> seen_;
};

}  // namespace

nfr::v1::Rule RuleFromPending(const nfr::v1::PendingConnection& pending, nfr::v1::Verdict verdict,
                              const std::string& id, const std::string& comment) {
  const nfr::v1::Flow& f = pending.flow();
  const std::string host = f.family() == 6 ? "/128" : "/32";
  nfr::v1::Rule r;
  r.set_id(id);
  r.set_interface(f.interface());
  r.set_direction(f.direction());
  r.set_protocol(f.protocol());
  r.add_src_prefixes(absl::StrCat(f.src_addr(), host));
  r.add_dst_prefixes(absl::StrCat(f.dst_addr(), host));
  if ((f.protocol() == nfr::v1::PROTOCOL_TCP || f.protocol() == nfr::v1::PROTOCOL_UDP) &&
      f.dst_port() != 0) {
    r.add_dst_ports()->set_first(f.dst_port());
  }
  r.set_action(verdict == nfr::v1::VERDICT_ACCEPT ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP);
  r.set_comment(comment.substr(0, kMaxCommentLength));
  return r;
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::ListPending(grpc::CallbackServerContext* ctx,
                                                             const nfr::v1::ListPendingRequest* req,
                                                             nfr::v1::ListPendingResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "ListPending", &caller);
      !s.ok()) {
    return Reply(ctx, s);
  }
  absl::StatusOr<FlowFilter> filter = ParsePendingFilter(req->filter());
  if (!filter.ok()) return Reply(ctx, filter.status());
  for (const nfr::v1::PendingConnection& p : api_.control->ListPending()) {
    if (filter->Matches(p.flow())) *resp->add_pending() = p;
  }
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<PendingEvent>* ConnectionServiceImpl::WatchPending(
    grpc::CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "WatchPending", &caller);
      !s.ok()) {
    return new FailedStream<PendingEvent>(s);
  }
  absl::StatusOr<FlowFilter> filter = ParsePendingFilter(req->filter());
  if (!filter.ok()) return new FailedStream<PendingEvent>(filter.status());
  auto watch = std::make_shared<PendingWatch>(api_.hub, api_.watcher_queue, std::move(*filter),
                                              &api_.events_lost);
  grpc::ServerWriteReactor<PendingEvent>* reactor = WatchStream<PendingEvent>::Start(watch);
  watch->TakeSnapshot(api_.control->ListPending());
  return reactor;
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::Decide(grpc::CallbackServerContext* ctx,
                                                        const nfr::v1::DecideRequest* req,
                                                        nfr::v1::DecideResponse* resp) {
  auto check = std::make_shared<DecideCheck>();
  if (absl::Status s = CheckDecide(*ctx, req, check.get()); !s.ok()) return Reply(ctx, s);
  if (check->scope == nfr::v1::DECISION_SCOPE_RULE) {
    return FinishBlocking(api_, ctx, [this, req, resp, check]() -> absl::Status {
      if (absl::Status s = AddDecidedRule(req, *check, resp); !s.ok()) return s;
      absl::StatusOr<nfr::v1::Decision> record = Resolve(req, *check, resp);
      if (!record.ok()) return record.status();
      return LogDecision(*record, resp);
    });
  }
  // ONCE/FLOW: release the held packets now, on this thread (non-blocking);
  // only the durable log write goes to the executor.
  absl::StatusOr<nfr::v1::Decision> record = Resolve(req, *check, resp);
  if (!record.ok()) return Reply(ctx, record.status());
  return FinishBlocking(api_, ctx, [this, resp, record = *record]() -> absl::Status {
    return LogDecision(record, resp);
  });
}

absl::Status ConnectionServiceImpl::CheckDecide(const grpc::CallbackServerContext& ctx,
                                                const nfr::v1::DecideRequest* req,
                                                DecideCheck* check) {
  if (absl::Status s = Authorize(api_, ctx, nfr::v1::ROLE_DECIDER, "Decide", &check->caller);
      !s.ok()) {
    return s;
  }
  if (req->pending_id() == 0) {
    return absl::InvalidArgumentError(
        "pending_id: required; take it from nfrctl pending list/watch");
  }
  if (absl::Status s = CheckVerdict(req->verdict(), "verdict", false); !s.ok()) {
    return s;
  }
  nfr::v1::DecisionScope& scope = check->scope;
  scope = req->scope();
  if (!nfr::v1::DecisionScope_IsValid(scope)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: ", static_cast<int>(scope),
                     " is not a scope; use DECISION_SCOPE_ONCE, _FLOW or _RULE"));
  }
  if (scope == nfr::v1::DECISION_SCOPE_UNSPECIFIED) scope = nfr::v1::DECISION_SCOPE_ONCE;
  if (req->ttl_seconds() != 0 && scope != nfr::v1::DECISION_SCOPE_FLOW) {
    return absl::InvalidArgumentError(
        "ttl_seconds: only meaningful with scope DECISION_SCOPE_FLOW");
  }
  if (req->ttl_seconds() > kMaxTtlSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("ttl_seconds: ", req->ttl_seconds(),
                                                   " exceeds the maximum of ", kMaxTtlSeconds,
                                                   " (7 days)"));
  }
  if (req->reason().size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("reason: ", req->reason().size(),
                                                   " bytes exceed the limit of ", kMaxReasonBytes));
  }
  if (!req->rule_id().empty() && scope != nfr::v1::DECISION_SCOPE_RULE) {
    return absl::InvalidArgumentError("rule_id: only meaningful with scope DECISION_SCOPE_RULE");
  }
  bool found = false;
  for (nfr::v1::PendingConnection& p : api_.control->ListPending()) {
    if (p.id() == req->pending_id()) {
      check->pending = std::move(p);
      found = true;
    }
  }
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("pending_id: no pending connection ", req->pending_id(),
                     " (already decided or expired); see nfrctl pending list"));
  }
  return absl::OkStatus();
}

absl::Status ConnectionServiceImpl::AddDecidedRule(const nfr::v1::DecideRequest* req,
                                                   const DecideCheck& check,
                                                   nfr::v1::DecideResponse* resp) {
  std::lock_guard<std::mutex> l(api_.policy_mu);
  const nfr::v1::Policy current = api_.control->GetPolicy();
  std::string id = req->rule_id();
  if (id.empty()) {
    id = absl::StrCat("decided-", req->pending_id());
    for (int n = 2;; ++n) {
      bool taken = false;
      for (const nfr::v1::Rule& r : current.rules()) taken |= r.id() == id;
      if (!taken) break;
      id = absl::StrCat("decided-", req->pending_id(), "-", n);
    }
  }
  for (const nfr::v1::Rule& r : current.rules()) {
    if (r.id() == id) {
      return absl::AlreadyExistsError(
          absl::StrCat("rule_id: a rule \"", id, "\" already exists; pick another id"));
    }
  }
  nfr::v1::Rule rule =
      RuleFromPending(check.pending, req->verdict(), id,
                      absl::StrCat("decided by ", check.caller.identity,
                                   req->reason().empty() ? "" : ": ", req->reason()));
  if (absl::Status s = ValidateRule(rule, "rule_id"); !s.ok()) return s;
  nfr::v1::Policy next = current;
  next.set_version(current.version() + 1);
  *next.add_rules() = rule;
  for (int i = next.rules_size() - 1; i > 0; --i) next.mutable_rules()->SwapElements(i, i - 1);
  absl::StatusOr<nfr::v1::Policy> done =
      CommitPolicy(api_, current, next, check.caller,
                   absl::StrCat("rule from pending ", req->pending_id()), "policy");
  if (!done.ok()) return done.status();
  *resp->mutable_rule() = rule;
  resp->set_policy_version(done->version());
  return absl::OkStatus();
}

absl::StatusOr<nfr::v1::Decision> ConnectionServiceImpl::Resolve(
    const nfr::v1::DecideRequest* req, const DecideCheck& check,
    const nfr::v1::DecideResponse* resp) {
  DecideRequest d;
  d.pending_id = req->pending_id();
  d.verdict = req->verdict();
  d.scope = check.scope;
  d.ttl = absl::Seconds(req->ttl_seconds());
  d.decider = check.caller.identity;
  d.reason = req->reason();
  const uint64_t log_id = api_.store->NextDecisionId();
  api_.hub->ExpectControllerDecision(req->pending_id(), log_id, resp->rule().id());
  absl::StatusOr<nfr::v1::Decision> decision = api_.control->Decide(d);
  if (!decision.ok()) {
    api_.hub->ForgetControllerDecision(req->pending_id());
    absl::Status s = decision.status();
    if (s.code() == absl::StatusCode::kNotFound) {
      s = absl::NotFoundError(absl::StrCat("pending_id: ", s.message()));
    }
    return s;
  }
  nfr::v1::Decision record = *decision;
  record.set_id(log_id);
  record.set_source(nfr::v1::DECISION_SOURCE_CONTROLLER);
  record.set_scope(check.scope);
  record.set_decider(check.caller.identity);
  record.set_reason(req->reason());
  record.set_pending_id(req->pending_id());
  if (!record.has_flow()) *record.mutable_flow() = check.pending.flow();
  if (check.scope == nfr::v1::DECISION_SCOPE_RULE) record.set_rule_id(resp->rule().id());
  return record;
}

absl::Status ConnectionServiceImpl::LogDecision(nfr::v1::Decision record,
                                                nfr::v1::DecideResponse* resp) {
  if (absl::Status s = api_.store->AppendDecision(record); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("the verdict was applied but could not be logged: ", s.message()));
  }
  *resp->mutable_decision() = record;
  *resp->mutable_decision() = record;
  return absl::OkStatus();
}

}  // namespace nfr
