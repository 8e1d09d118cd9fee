#include "fleetd/fleet_service.h"

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "agent/util/proto_time.h"
#include "fleetd/event_stream.h"
#include "fleetd/rollout_result.h"

namespace nfr {
namespace {

constexpr uint32_t kDefaultUploadedLimit = 1000;
constexpr uint32_t kMaxUploadedLimit = 10000;
constexpr uint32_t kDefaultRolloutTimeoutMs = 10000;

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpcStatus(s));
  return r;
}

template <typename Event>
class FailedWrite : public grpc::ServerWriteReactor<Event> {
 public:
  explicit FailedWrite(const absl::Status& s) { this->Finish(ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

absl::Status ScopeFrom(const Gateway& gw, const grpc::CallbackServerContext& ctx,
                       const nfr::v1::FleetWatchRequest& req, const char* method,
                       WatchScope* scope) {
  scope->controller = gw.auth->Identify(ctx);
  if (absl::Status s = Require(scope->controller, nfr::v1::ROLE_VIEWER, method); !s.ok()) return s;
  scope->agent_id = req.agent_id();
  if (!req.selector().empty()) {
    absl::StatusOr<Selector> sel = Selector::Parse(req.selector(), "selector");
    if (!sel.ok()) return sel.status();
    scope->selector = *std::move(sel);
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* FleetServiceImpl::ListAgents(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::ListAgentsRequest* req,
                                                       nfr::v1::ListAgentsResponse* resp) {
  const Controller c = gw_.auth->Identify(*ctx);
  if (absl::Status s = Require(c, nfr::v1::ROLE_VIEWER, "ListAgents"); !s.ok())
    return Reply(ctx, s);
  absl::StatusOr<Selector> sel = Selector::Parse(req->selector(), "selector");
  if (!sel.ok()) return Reply(ctx, sel.status());
  for (nfr::v1::FleetAgent& a : gw_.registry->Agents()) {
    if (sel->Matches(a.labels()) && c.Reaches(a)) *resp->add_agents() = std::move(a);
  }
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<nfr::v1::FleetPendingEvent>* FleetServiceImpl::WatchPending(
    grpc::CallbackServerContext* ctx, const nfr::v1::FleetWatchRequest* req) {
  WatchScope scope;
  if (absl::Status s = ScopeFrom(gw_, *ctx, *req, "WatchPending", &scope); !s.ok()) {
    return new FailedWrite<nfr::v1::FleetPendingEvent>(s);
  }
  EventMapping<nfr::v1::FleetPendingEvent> map;
  map.pending = [](const std::string& id, const nfr::v1::PendingEvent& e) {
    nfr::v1::FleetPendingEvent f;
    f.set_agent_id(id);
    *f.mutable_event() = e;
    return std::optional<nfr::v1::FleetPendingEvent>(f);
  };
  map.lost = [](uint64_t n) {
    nfr::v1::FleetPendingEvent f;
    f.mutable_event()->mutable_lost()->set_count(n);
    return f;
  };
  return EventStream<nfr::v1::FleetPendingEvent>::Start(
      gw_.registry, std::move(scope), std::move(map), gw_.watcher_queue,
      [](const std::vector<std::pair<std::string, nfr::v1::PendingConnection>>& now) {
        std::vector<nfr::v1::FleetPendingEvent> out;
        for (const auto& [id, p] : now) {
          nfr::v1::FleetPendingEvent f;
          f.set_agent_id(id);
          *f.mutable_event()->mutable_time() = ToProtoTime(absl::Now());
          *f.mutable_event()->mutable_snapshot() = p;
          out.push_back(std::move(f));
        }
        nfr::v1::FleetPendingEvent done;
        *done.mutable_event()->mutable_time() = ToProtoTime(absl::Now());
        done.mutable_event()->mutable_snapshot_done()->set_count(static_cast<uint32_t>(now.size()));
        out.push_back(std::move(done));
        return out;
      });
}

grpc::ServerWriteReactor<nfr::v1::FleetDecisionEvent>* FleetServiceImpl::WatchDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::FleetWatchRequest* req) {
  WatchScope scope;
  if (absl::Status s = ScopeFrom(gw_, *ctx, *req, "WatchDecisions", &scope); !s.ok()) {
    return new FailedWrite<nfr::v1::FleetDecisionEvent>(s);
  }
  EventMapping<nfr::v1::FleetDecisionEvent> map;
  map.decision = [](const std::string& id, const nfr::v1::Decision& d) {
    nfr::v1::FleetDecisionEvent f;
    f.set_agent_id(id);
    *f.mutable_decision() = d;
    return std::optional<nfr::v1::FleetDecisionEvent>(f);
  };
  map.lost = [](uint64_t n) {
    nfr::v1::FleetDecisionEvent f;
    f.mutable_lost()->set_count(n);
    return f;
  };
  return EventStream<nfr::v1::FleetDecisionEvent>::Start(
      gw_.registry, std::move(scope), std::move(map), gw_.watcher_queue, nullptr);
}

grpc::ServerUnaryReactor* FleetServiceImpl::ListUploadedDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::ListUploadedDecisionsRequest* req,
    nfr::v1::ListUploadedDecisionsResponse* resp) {
  const Controller c = gw_.auth->Identify(*ctx);
  if (absl::Status s = Require(c, nfr::v1::ROLE_VIEWER, "ListUploadedDecisions"); !s.ok()) {
    return Reply(ctx, s);
  }
  std::optional<nfr::v1::FleetAgent> a = gw_.registry->Find(req->agent_id());
  if (!a.has_value() || !c.Reaches(*a)) {
    return Reply(ctx, absl::NotFoundError(absl::StrCat(
                          "agent_id: \"", req->agent_id(),
                          "\" is not an agent you can see here; list them with nfrctl fleet ls")));
  }
  if (req->limit() > kMaxUploadedLimit) {
    return Reply(ctx, absl::InvalidArgumentError(absl::StrCat("limit: at most ", kMaxUploadedLimit,
                                                              "; page with after_id")));
  }
  absl::StatusOr<std::vector<nfr::v1::Decision>> got = gw_.store->Decisions(
      req->agent_id(), req->after_id(), req->limit() ? req->limit() : kDefaultUploadedLimit);
  if (!got.ok()) return Reply(ctx, got.status());
  for (nfr::v1::Decision& d : *got) *resp->add_decisions() = std::move(d);
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* FleetServiceImpl::Rollout(grpc::CallbackServerContext* ctx,
                                                    const nfr::v1::RolloutRequest* req,
                                                    nfr::v1::RolloutResponse* resp) {
  const Controller c = gw_.auth->Identify(*ctx);
  if (absl::Status s = Require(c, nfr::v1::ROLE_ADMIN, "Rollout"); !s.ok()) return Reply(ctx, s);
  if (!req->has_policy()) {
    return Reply(ctx, absl::InvalidArgumentError(
                          "policy: missing; nfrctl fleet rollout -f FILE --selector K=V"));
  }
  absl::StatusOr<Selector> sel = Selector::Parse(req->selector(), "selector");
  if (!sel.ok()) return Reply(ctx, sel.status());
  // A scoped controller's group is the selector within its scope: the group
  // policy (and the catch-up on attach) never reaches agents outside it.
  if (c.scope.has_value()) sel = sel->And(*c.scope);
  const std::string key = sel->Canonical();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!rolling_.insert(key).second) {
      return Reply(ctx, absl::AbortedError(absl::StrCat("a rollout to selector \"", key,
                                                        "\" is in progress; retry after it")));
    }
  }
  auto release = [this, key] {
    std::lock_guard<std::mutex> l(mu_);
    rolling_.erase(key);
  };
  const uint64_t current = gw_.store->GroupVersion(key);
  if (req->has_expected_group_version() && req->expected_group_version() != current) {
    release();
    return Reply(ctx, absl::FailedPreconditionError(
                          absl::StrCat("expected_group_version ", req->expected_group_version(),
                                       " but the group policy for \"", key, "\" is at version ",
                                       current, "; nfrctl fleet rollouts shows who changed it")));
  }
  struct State {
    std::mutex mu;
    size_t remaining = 0;
    nfr::v1::RolloutResponse out;
    absl::Time start = absl::Now();
  };
  auto st = std::make_shared<State>();
  st->out.set_group_version(current + 1);
  std::vector<std::string> targets;
  for (const nfr::v1::FleetAgent& a : gw_.registry->Agents()) {
    if (!sel->Matches(a.labels()) || !c.Reaches(a)) continue;
    if (!a.connected()) {
      nfr::v1::RolloutResult* r = st->out.add_results();
      r->set_agent_id(a.id());
      r->set_code(grpc::UNAVAILABLE);
      r->set_error("not connected; it gets this group policy when it attaches again");
      continue;
    }
    targets.push_back(a.id());
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = [this, st, reactor, resp, req, key, c, release]() {
    nfr::v1::RolloutRecord rec;
    rec.set_selector(key);
    rec.set_group_version(st->out.group_version());
    rec.set_author(c.identity);
    rec.set_comment(req->comment());
    *rec.mutable_time() = ToProtoTime(absl::Now());
    rec.set_agents(static_cast<uint32_t>(st->out.results_size()));
    uint32_t failed = 0;
    for (const auto& r : st->out.results()) failed += !r.ok();
    rec.set_failed(failed);
    st->out.set_elapsed_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(absl::Now() - st->start)));
    absl::StatusOr<uint64_t> id = gw_.store->RecordRollout(rec, req->policy(), st->out);
    release();
    if (!id.ok()) {
      reactor->Finish(ToGrpcStatus(id.status()));
      return;
    }
    st->out.set_rollout_id(*id);
    gw_.registry->counters().rollouts++;
    LogLine(absl::StrCat("nfr-fleetd: rollout ", *id, " by ", c.identity, " to \"", key,
                         "\": group version ", st->out.group_version(), ", ", rec.agents() - failed,
                         "/", rec.agents(), " agents applied in ", st->out.elapsed_ms(), " ms"));
    *resp = st->out;
    reactor->Finish(grpc::Status::OK);
  };
  st->remaining = targets.size();
  if (targets.empty()) {
    finish();
    return reactor;
  }
  const absl::Duration timeout =
      absl::Milliseconds(req->timeout_ms() ? req->timeout_ms() : kDefaultRolloutTimeoutMs);
  for (const std::string& id : targets) {
    nfr::v1::LinkRequest lr;
    lr.set_caller(c.identity);
    nfr::v1::ApplyPolicyRequest* ap = lr.mutable_apply_policy();
    *ap->mutable_policy() = req->policy();
    if (req->has_expected_agent_version()) ap->set_expected_version(req->expected_agent_version());
    ap->set_comment(absl::StrCat("fleet rollout \"", key, "\" group v", current + 1,
                                 req->comment().empty() ? "" : ": ", req->comment()));
    const absl::Time sent = absl::Now();
    gw_.registry->Call(
        id, std::move(lr), timeout,
        [st, id, sent, finish](absl::StatusOr<nfr::v1::LinkResponse> out) {
          bool last = false;
          {
            std::lock_guard<std::mutex> l(st->mu);
            nfr::v1::RolloutResult* r = st->out.add_results();
            r->set_agent_id(id);
            r->set_latency_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(absl::Now() - sent)));
            SetRolloutOutcome(out, r);
            last = --st->remaining == 0;
          }
          if (last) finish();
        });
  }
  return reactor;
}

grpc::ServerUnaryReactor* FleetServiceImpl::ListRollouts(grpc::CallbackServerContext* ctx,
                                                         const nfr::v1::ListRolloutsRequest* req,
                                                         nfr::v1::ListRolloutsResponse* resp) {
  const Controller c = gw_.auth->Identify(*ctx);
  if (absl::Status s = Require(c, nfr::v1::ROLE_VIEWER, "ListRollouts"); !s.ok()) {
    return Reply(ctx, s);
  }
  for (nfr::v1::RolloutRecord& r : gw_.store->Rollouts(req->limit() ? req->limit() : 20)) {
    *resp->add_rollouts() = std::move(r);
  }
  return Reply(ctx, absl::OkStatus());
}

}  // namespace nfr
