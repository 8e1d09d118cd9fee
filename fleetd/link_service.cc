#include "fleetd/link_service.h"

#include <grpc/grpc_security_constants.h>

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"

namespace nfr {
namespace {

using nfr::v1::AgentFrame;
using nfr::v1::ControllerFrame;

std::string PeerCn(const grpc::CallbackServerContext& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  std::vector<grpc::string_ref> v = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  return v.empty() ? "" : std::string(v[0].data(), v[0].size());
}

class LinkReactor;

// Outlives the reactor: the registry may hold it after the stream ended.
class LinkHandle : public LinkSender {
 public:
  explicit LinkHandle(LinkReactor* r) : reactor_(r) {}
  bool Send(ControllerFrame frame) override;
  void Close(const absl::Status& status) override;
  void OnWriteDone(bool ok);
  void Gone() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    reactor_ = nullptr;
  }

 private:
  void FinishLocked(const grpc::Status& s);
  std::recursive_mutex mu_;
  LinkReactor* reactor_;
  std::deque<ControllerFrame> out_;
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status finish_status_;
};

class LinkReactor final : public grpc::ServerBidiReactor<AgentFrame, ControllerFrame> {
 public:
  LinkReactor(grpc::CallbackServerContext* ctx, Registry* registry, GroupCatchUp* catch_up)
      : registry_(registry),
        catch_up_(catch_up),
        handle_(std::make_shared<LinkHandle>(this)),
        cn_(PeerCn(*ctx)),
        peer_(ctx->peer()) {
    if (cn_.empty()) {
      // Only reachable if the listener was built without client verification.
      registry_->counters().links_refused++;
      LogLine(absl::StrCat("nfr-fleetd: refused link from ", peer_,
                           ": no verified client certificate"));
      handle_->Close(
          absl::UnauthenticatedError("a client certificate signed by the fleet CA is required"));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      handle_->Close(absl::OkStatus());
      return;
    }
    if (!attached_) {
      if (!in_.has_hello()) {
        Refuse(absl::InvalidArgumentError("the first frame must be Hello"));
        return;
      }
      if (!in_.hello().agent_id().empty() && in_.hello().agent_id() != cn_) {
        Refuse(absl::PermissionDeniedError(absl::StrCat(
            "agent id \"", in_.hello().agent_id(), "\" does not match the certificate CN \"", cn_,
            "\"; the id comes from the certificate: fix controller.agent_id or the certificate")));
        return;
      }
      attached_ = true;
      ControllerFrame w;
      *w.mutable_welcome() = registry_->Attach(handle_, cn_, peer_, in_.hello());
      handle_->Send(std::move(w));
      if (catch_up_ != nullptr) catch_up_->Attached(cn_, in_.hello());
    } else {
      switch (in_.frame_case()) {
        case AgentFrame::kResponse:
          registry_->OnResponse(cn_, std::move(*in_.mutable_response()));
          break;
        case AgentFrame::kPending:
          registry_->OnPending(cn_, in_.pending());
          break;
        case AgentFrame::kDecisions:
          if (uint64_t ack = registry_->OnDecisions(cn_, in_.decisions())) {
            ControllerFrame a;
            a.mutable_ack()->set_decision_id(ack);
            handle_->Send(std::move(a));
          }
          break;
        case AgentFrame::kStatus:
          registry_->OnStatus(cn_, in_.status());
          break;
        default:
          break;
      }
    }
    in_.Clear();
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { handle_->OnWriteDone(ok); }

  void OnDone() override {
    handle_->Gone();
    if (attached_) registry_->Detach(handle_.get(), cn_);
    delete this;
  }

 private:
  void Refuse(const absl::Status& why) {
    registry_->counters().links_refused++;
    LogLine(absl::StrCat("nfr-fleetd: refused link from ", peer_, " (certificate CN ", cn_,
                         "): ", why.message()));
    handle_->Close(why);
  }

  Registry* const registry_;
  GroupCatchUp* const catch_up_;
  std::shared_ptr<LinkHandle> handle_;
  const std::string cn_, peer_;
  AgentFrame in_;
  bool attached_ = false;
};

bool LinkHandle::Send(ControllerFrame frame) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  if (reactor_ == nullptr || finishing_) return false;
  out_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    reactor_->StartWrite(&out_.front());
  }
  return true;
}

void LinkHandle::OnWriteDone(bool ok) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  out_.pop_front();
  writing_ = false;
  if (reactor_ == nullptr) return;
  if (!ok) {
    out_.clear();
    FinishLocked(grpc::Status::OK);
    return;
  }
  if (!out_.empty() && !finishing_) {
    writing_ = true;
    reactor_->StartWrite(&out_.front());
  } else if (finishing_) {
    FinishLocked(finish_status_);
  }
}

void LinkHandle::Close(const absl::Status& status) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  if (reactor_ == nullptr || finishing_) return;
  finishing_ = true;
  finish_status_ =
      grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
  if (!writing_) FinishLocked(finish_status_);
}

void LinkHandle::FinishLocked(const grpc::Status& s) {
  if (finished_ || reactor_ == nullptr) return;
  finished_ = true;
  finishing_ = true;
  reactor_->Finish(s);
}

}  // namespace

grpc::ServerBidiReactor<AgentFrame, ControllerFrame>* LinkServiceImpl::Attach(
    grpc::CallbackServerContext* ctx) {
  return new LinkReactor(ctx, registry_, catch_up_);
}

}  // namespace nfr
