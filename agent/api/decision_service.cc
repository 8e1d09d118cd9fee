#include "agent/api/decision_service.h"

#include "absl/strings/str_cat.h"
#include "agent/api/failed_stream.h"
#include "agent/core/flow_filter.h"
#include "agent/api/watch_stream.h"

namespace nfr {
namespace {

using nfr::v1::DecisionEvent;

class DecisionWatch final : public WatchStream<DecisionEvent> {
 public:
  DecisionWatch(EventHub* hub, size_t capacity, FlowFilter filter, std::atomic<uint64_t>* lost)
      : WatchStream(hub, capacity, lost), filter_(std::move(filter)) {}

 protected:
  std::optional<DecisionEvent> ConvertLocked(const HubEvent& ev) override {
    if (ev.kind == HubEvent::kPendingAdded || !filter_.Matches(ev.decision)) return std::nullopt;
    DecisionEvent e;
    *e.mutable_decision() = ev.decision;
    return e;
  }

 private:
  const FlowFilter filter_;
};

}  // namespace

grpc::ServerUnaryReactor* DecisionServiceImpl::ListDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::ListDecisionsRequest* req,
    nfr::v1::ListDecisionsResponse* resp) {
  return FinishBlocking(api_, ctx, [this, ctx, req, resp]() -> absl::Status {
    Caller caller;
    if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "ListDecisions", &caller);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<nfr::v1::ListDecisionsResponse> page = api_.core->decisions().List(*req);
    if (!page.ok()) return page.status();
    *resp = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<DecisionEvent>* DecisionServiceImpl::WatchDecisions(
    grpc::CallbackServerContext* ctx, const nfr::v1::WatchDecisionsRequest* req) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "WatchDecisions", &caller);
      !s.ok()) {
    return new FailedStream<DecisionEvent>(s);
  }
  absl::StatusOr<FlowFilter> filter = DecisionFilterFrom(req->filter());
  if (!filter.ok()) return new FailedStream<DecisionEvent>(filter.status());
  absl::StatusOr<std::unique_ptr<StreamGate::Slot>> slot =
      api_.streams->Acquire(PeerKey(caller), "WatchDecisions");
  if (!slot.ok()) return new FailedStream<DecisionEvent>(slot.status());
  auto watch = std::make_shared<DecisionWatch>(&api_.core->hub(), api_.watcher_queue,
                                               std::move(*filter), &api_.events_lost);
  return WatchStream<DecisionEvent>::Start(watch, *std::move(slot));
}

}  // namespace nfr
