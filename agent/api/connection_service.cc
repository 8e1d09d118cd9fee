#include "agent/api/connection_service.h"

#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "agent/api/failed_stream.h"
#include "agent/util/proto_time.h"
#include "agent/core/flow_filter.h"
#include "agent/core/requests.h"
#include "agent/api/watch_stream.h"

namespace nfr {
namespace {

using nfr::v1::PendingEvent;

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

void SetNow(google::protobuf::Timestamp* t) { *t = ToProtoTime(absl::Now()); }

// Snapshot first, then live events; ids are tracked so a connection is
// reported once and a resolution is only sent for a connection the client saw.
class PendingWatch final : public WatchStream<PendingEvent> {
 public:
  PendingWatch(EventHub* hub, size_t capacity, size_t snapshot_max, FlowFilter filter,
               std::atomic<uint64_t>* lost)
      : WatchStream(hub, capacity, lost), snapshot_max_(snapshot_max), filter_(std::move(filter)) {}

  // At most snapshot_max entries (the oldest first); the rest are reported as
  // one `lost` notice before snapshot_done (nfrctl pending list shows them all).
  void TakeSnapshot(const std::vector<nfr::v1::PendingConnection>& now) {
    std::unique_lock<std::mutex> l(mu_);
    std::deque<PendingEvent> front;
    uint64_t left_out = 0;
    for (const nfr::v1::PendingConnection& p : now) {
      if (!filter_.Matches(p.flow())) continue;
      if (front.size() >= snapshot_max_) {
        ++left_out;
        continue;
      }
      PendingEvent e;
      SetNow(e.mutable_time());
      *e.mutable_snapshot() = p;
      seen_.insert(p.id());
      front.push_back(std::move(e));
    }
    const uint32_t sent = static_cast<uint32_t>(front.size());
    if (left_out > 0) {
      PendingEvent lost;
      SetNow(lost.mutable_time());
      lost.mutable_lost()->set_count(left_out);
      front.push_back(std::move(lost));
    }
    PendingEvent done;
    SetNow(done.mutable_time());
    done.mutable_snapshot_done()->set_count(sent);
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
      if (early_.size() < capacity()) early_.push_back(std::make_shared<const HubEvent>(ev));
      return std::nullopt;
    }
    const uint64_t id = ev.pending.id();
    if (ev.kind == HubEvent::kPendingAdded) {
      if (!filter_.Matches(ev.pending.flow()) || !seen_.insert(id).second) return std::nullopt;
    } else if (seen_.erase(id) == 0) {
      return std::nullopt;
    }
    return PendingEventFrom(ev);
  }

 private:
  const size_t snapshot_max_;
  const FlowFilter filter_;
  bool snapshot_taken_ = false;
  std::vector<std::shared_ptr<const HubEvent>> early_;
  std::unordered_set<uint64_t> seen_;
};

}  // namespace

grpc::ServerUnaryReactor* ConnectionServiceImpl::ListPending(grpc::CallbackServerContext* ctx,
                                                             const nfr::v1::ListPendingRequest* req,
                                                             nfr::v1::ListPendingResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "ListPending", &caller);
      !s.ok()) {
    return Reply(ctx, s);
  }
  absl::StatusOr<nfr::v1::ListPendingResponse> list = nfr::ListPending(*api_.core, *req);
  if (!list.ok()) return Reply(ctx, list.status());
  *resp = *std::move(list);
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<PendingEvent>* ConnectionServiceImpl::WatchPending(
    grpc::CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "WatchPending", &caller);
      !s.ok()) {
    return new FailedStream<PendingEvent>(s);
  }
  absl::StatusOr<FlowFilter> filter = PendingFilterFrom(req->filter());
  if (!filter.ok()) return new FailedStream<PendingEvent>(filter.status());
  absl::StatusOr<std::unique_ptr<StreamGate::Slot>> slot =
      api_.streams->Acquire(PeerKey(caller), "WatchPending");
  if (!slot.ok()) return new FailedStream<PendingEvent>(slot.status());
  auto watch = std::make_shared<PendingWatch>(&api_.core->hub(), api_.watcher_queue,
                                              api_.snapshot_max, std::move(*filter),
                                              &api_.events_lost);
  grpc::ServerWriteReactor<PendingEvent>* reactor =
      WatchStream<PendingEvent>::Start(watch, *std::move(slot));
  watch->TakeSnapshot(api_.core->agent().ListPending());
  return reactor;
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::Decide(grpc::CallbackServerContext* ctx,
                                                        const nfr::v1::DecideRequest* req,
                                                        nfr::v1::DecideResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_DECIDER, "Decide", &caller); !s.ok()) {
    return Reply(ctx, s);
  }
  if (absl::Status s = api_.changes->Take(PeerKey(caller), "Decide"); !s.ok()) {
    return Reply(ctx, s);
  }
  return FinishBlocking(api_, ctx, [this, req, resp, who = caller.identity]() -> absl::Status {
    absl::StatusOr<nfr::v1::DecideResponse> out = nfr::Decide(*api_.core, *req, who);
    if (!out.ok()) return out.status();
    *resp = *std::move(out);
    return absl::OkStatus();
  });
}

}  // namespace nfr
