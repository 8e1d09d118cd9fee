#include "agent/link/link_session.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/api/roles.h"
#include "agent/core/requests.h"
#include "agent/link/controller_link.h"
#include "agent/util/log.h"

namespace nfr {
namespace {

using nfr::v1::AgentFrame;
using nfr::v1::ControllerFrame;
using nfr::v1::LinkRequest;
using nfr::v1::LinkResponse;

constexpr size_t kMaxOutbox = 16384;  // droppable frames (pending events) beyond this are lost
constexpr uint32_t kUploadBatch = 500;
constexpr absl::Duration kUploadTick = absl::Milliseconds(250);
// An id uploaded this long ago is settled: later scans start above it.
constexpr absl::Duration kSettle = absl::Seconds(2);

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

template <typename T>
void Fill(LinkResponse* out, const absl::StatusOr<T>& r, T* (LinkResponse::*field)()) {
  if (!r.ok()) {
    out->set_code(static_cast<int32_t>(r.status().code()));
    out->set_message(std::string(r.status().message()));
    return;
  }
  *(out->*field)() = *r;
}

}  // namespace

// The hub may still deliver after Unsubscribe returns: Detach() makes that a no-op.
class LinkSession::Subscriber : public HubSubscriber {
 public:
  explicit Subscriber(LinkSession* s) : s_(s) {}
  void Deliver(const std::shared_ptr<const HubEvent>& ev) override {
    std::lock_guard<std::mutex> l(mu_);
    if (s_ == nullptr) return;
    if (ev->kind != HubEvent::kPendingAdded) s_->MarkDecisionsDirty();
    if (std::optional<nfr::v1::PendingEvent> e = PendingEventFrom(*ev)) {
      AgentFrame f;
      *f.mutable_pending() = *std::move(e);
      s_->Push(std::move(f), true);
    }
  }
  void Lost(uint64_t count) override {
    std::lock_guard<std::mutex> l(mu_);
    if (s_ != nullptr) s_->counters_->events_lost += count;
  }
  void Close() override {}
  void Detach() {
    std::lock_guard<std::mutex> l(mu_);
    s_ = nullptr;
  }

 private:
  std::mutex mu_;
  LinkSession* s_;
};

LinkSession::LinkSession(Core* core, const nfr::v1::ControllerConfig& config,
                         LinkCounters* counters)
    : core_(core), config_(config), counters_(counters) {
  if (config.status_interval_seconds()) {
    status_interval_ = absl::Seconds(config.status_interval_seconds());
  }
}

void LinkSession::Cancel() {
  {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
  }
  out_cv_.notify_all();
  work_cv_.notify_all();
  upload_cv_.notify_all();
  ctx_.TryCancel();
}

void LinkSession::Push(AgentFrame frame, bool droppable) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (done_) return;
    if (droppable && outbox_.size() >= kMaxOutbox) {
      counters_->events_lost++;
      return;
    }
    outbox_.push_back(std::move(frame));
  }
  out_cv_.notify_one();
}

void LinkSession::MarkDecisionsDirty() {
  {
    std::lock_guard<std::mutex> l(mu_);
    decisions_dirty_ = true;
  }
  upload_cv_.notify_one();
}

void LinkSession::WriteLoop(grpc::ClientReaderWriter<AgentFrame, ControllerFrame>* stream) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    out_cv_.wait(l, [&] { return done_ || !outbox_.empty(); });
    if (done_) return;
    AgentFrame f = std::move(outbox_.front());
    outbox_.pop_front();
    l.unlock();
    const bool ok = stream->Write(f);
    l.lock();
    if (!ok) return;  // the reader sees the end too
  }
}

void LinkSession::WorkLoop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    work_cv_.wait(l, [&] { return done_ || !work_.empty(); });
    if (done_) return;
    LinkRequest req = std::move(work_.front());
    work_.pop_front();
    l.unlock();
    AgentFrame f;
    *f.mutable_response() = Answer(req);
    counters_->requests++;
    Push(std::move(f), false);
    l.lock();
  }
}

LinkResponse LinkSession::Answer(const LinkRequest& req) {
  LinkResponse out;
  out.set_request_id(req.request_id());
  Caller caller;
  caller.identity = absl::StrCat("fleet:", gateway_, "/", req.caller());
  caller.role = config_.role() == nfr::v1::ROLE_NONE ? nfr::v1::ROLE_ADMIN : config_.role();
  Role need = nfr::v1::ROLE_VIEWER;
  const char* method = "GetStatus";
  switch (req.call_case()) {
    case LinkRequest::kApplyPolicy:
      need = nfr::v1::ROLE_ADMIN;
      method = "ApplyPolicy";
      break;
    case LinkRequest::kAddRule:
      need = nfr::v1::ROLE_ADMIN;
      method = "AddRule";
      break;
    case LinkRequest::kRemoveRule:
      need = nfr::v1::ROLE_ADMIN;
      method = "RemoveRule";
      break;
    case LinkRequest::kDecide:
      need = nfr::v1::ROLE_DECIDER;
      method = "Decide";
      break;
    case LinkRequest::kListFlows:
      method = "ListFlows";
      break;
    case LinkRequest::kDeleteFlows:
      need = nfr::v1::ROLE_DECIDER;
      method = "DeleteFlows";
      break;
    case LinkRequest::kDenyFlows:
      need = nfr::v1::ROLE_DECIDER;
      method = "DenyFlows";
      break;
    case LinkRequest::kUpdateSet:
      need = nfr::v1::ROLE_ADMIN;
      method = "UpdateSet";
      break;
    default:
      break;
  }
  if (absl::Status s = RequireRole(caller, need, method); !s.ok()) {
    out.set_code(static_cast<int32_t>(s.code()));
    out.set_message(absl::StrCat(s.message(), " (controller.role in the agent's config)"));
    return out;
  }
  Core& core = *core_;
  switch (req.call_case()) {
    case LinkRequest::kGetPolicy:
      *out.mutable_get_policy()->mutable_policy() = core.policy().Current();
      break;
    case LinkRequest::kApplyPolicy:
      Fill(&out, ApplyPolicy(core, req.apply_policy(), caller.identity),
           &LinkResponse::mutable_apply_policy);
      break;
    case LinkRequest::kAddRule:
      Fill(&out, AddRule(core, req.add_rule(), caller.identity), &LinkResponse::mutable_add_rule);
      break;
    case LinkRequest::kRemoveRule:
      Fill(&out, RemoveRule(core, req.remove_rule(), caller.identity),
           &LinkResponse::mutable_remove_rule);
      break;
    case LinkRequest::kListPending:
      Fill(&out, ListPending(core, req.list_pending()), &LinkResponse::mutable_list_pending);
      break;
    case LinkRequest::kDecide:
      Fill(&out, Decide(core, req.decide(), caller.identity), &LinkResponse::mutable_decide);
      break;
    case LinkRequest::kListDecisions:
      Fill(&out, core.decisions().List(req.list_decisions()),
           &LinkResponse::mutable_list_decisions);
      break;
    case LinkRequest::kListFlows:
      Fill(&out, ListFlows(core, req.list_flows()), &LinkResponse::mutable_list_flows);
      break;
    case LinkRequest::kDeleteFlows:
      Fill(&out, ChangeFlows(core, FlowChangeCommand::kForget, req.delete_flows(), caller.identity),
           &LinkResponse::mutable_delete_flows);
      break;
    case LinkRequest::kDenyFlows:
      Fill(&out, ChangeFlows(core, FlowChangeCommand::kDeny, req.deny_flows(), caller.identity),
           &LinkResponse::mutable_deny_flows);
      break;
    case LinkRequest::kUpdateSet:
      Fill(&out, UpdateSet(core, req.update_set(), caller.identity),
           &LinkResponse::mutable_update_set);
      break;
    case LinkRequest::kGetStatus: {
      nfr::v1::AgentStatus st = Status();
      st.set_caller(caller.identity);
      st.set_caller_role(std::string(RoleName(caller.role)));
      *out.mutable_get_status() = std::move(st);
      break;
    }
    default:
      out.set_code(static_cast<int32_t>(absl::StatusCode::kUnimplemented));
      out.set_message("this agent does not know the request; upgrade nfr-agent");
  }
  return out;
}

nfr::v1::AgentStatus LinkSession::Status() {
  nfr::v1::AgentStatus st = AgentStatusReport(*core_, absl::Now(), 0);
  if (status_extra_) status_extra_(&st);
  return st;
}

void LinkSession::UploadLoop() {
  absl::Time next_status = absl::Now() + status_interval_;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    upload_cv_.wait_for(l, absl::ToChronoNanoseconds(kUploadTick),
                        [&] { return done_ || decisions_dirty_; });
    if (done_) return;
    decisions_dirty_ = false;
    const uint64_t floor = floor_;
    l.unlock();
    absl::StatusOr<std::vector<nfr::v1::Decision>> got =
        core_->decisions().After(floor, kUploadBatch);
    AgentFrame up;
    const absl::Time now = absl::Now();
    l.lock();
    if (got.ok()) {
      for (nfr::v1::Decision& d : *got) {
        if (sent_.emplace(d.id(), now).second)
          *up.mutable_decisions()->add_decisions() = std::move(d);
      }
      if (got->size() == kUploadBatch) decisions_dirty_ = true;
    }
    while (!sent_.empty() && sent_.begin()->second + kSettle < now) {
      floor_ = sent_.begin()->first;
      sent_.erase(sent_.begin());
    }
    l.unlock();
    if (up.decisions().decisions_size() > 0) {
      counters_->decisions_uploaded += up.decisions().decisions_size();
      Push(std::move(up), false);
    }
    if (now >= next_status) {
      next_status = now + status_interval_;
      AgentFrame f;
      *f.mutable_status() = Status();
      Push(std::move(f), true);
    }
    l.lock();
  }
}

absl::Status LinkSession::Run(const std::shared_ptr<grpc::Channel>& channel, const Hooks& hooks) {
  nfr::v1::ControllerLink::Stub stub(channel);
  std::unique_ptr<grpc::ClientReaderWriter<AgentFrame, ControllerFrame>> stream =
      stub.Attach(&ctx_);
  AgentFrame hello;
  nfr::v1::Hello* h = hello.mutable_hello();
  h->set_agent_id(config_.agent_id());
  *h->mutable_labels() = config_.labels();
  h->set_version(NFR_VERSION);
  status_extra_ = hooks.status;
  *h->mutable_status() = Status();
  ControllerFrame first;
  const bool got = stream->Write(hello) && stream->Read(&first);
  if (!got || !first.has_welcome()) {
    // Without a frame the gateway ended the stream and its status says why.
    if (got) ctx_.TryCancel();
    grpc::Status s = stream->Finish();
    if (got) return absl::UnavailableError("the gateway sent no Welcome; is it an nfr-fleetd?");
    if (s.ok()) return absl::UnavailableError("the gateway closed the link before Welcome");
    return FromGrpc(s);
  }
  gateway_ = first.welcome().gateway();
  {
    std::lock_guard<std::mutex> l(mu_);
    floor_ = first.welcome().acked_decision_id();
    if (first.welcome().status_interval_seconds()) {
      status_interval_ = absl::Seconds(first.welcome().status_interval_seconds());
    }
  }
  hooks.welcomed(first.welcome());

  auto sub = std::make_shared<Subscriber>(this);
  core_->hub().Subscribe(sub);
  {
    std::vector<nfr::v1::PendingConnection> now = core_->agent().ListPending();
    for (const nfr::v1::PendingConnection& p : now) {
      AgentFrame f;
      *f.mutable_pending()->mutable_snapshot() = p;
      Push(std::move(f), false);
    }
    AgentFrame done;
    done.mutable_pending()->mutable_snapshot_done()->set_count(static_cast<uint32_t>(now.size()));
    Push(std::move(done), false);
  }
  std::thread writer([&] { WriteLoop(stream.get()); });
  std::thread worker([&] { WorkLoop(); });
  std::thread uploader([&] { UploadLoop(); });

  ControllerFrame f;
  while (stream->Read(&f)) {
    if (f.has_request()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        work_.push_back(std::move(*f.mutable_request()));
      }
      work_cv_.notify_one();
    } else if (f.has_ack()) {
      hooks.acked(f.ack().decision_id());
    }
  }
  // The stream has ended (Read failed): stop our threads, then read its status.
  core_->hub().Unsubscribe(sub.get());
  sub->Detach();
  {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
  }
  out_cv_.notify_all();
  work_cv_.notify_all();
  upload_cv_.notify_all();
  writer.join();
  worker.join();
  uploader.join();
  grpc::Status s = stream->Finish();
  if (s.ok()) return absl::UnavailableError("the gateway ended the link");
  return FromGrpc(s);
}

}  // namespace nfr
