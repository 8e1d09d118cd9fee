#include "agent/api/policy_service.h"

#include "absl/strings/str_cat.h"
#include "agent/core/requests.h"

namespace nfr {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* PolicyServiceImpl::GetPolicy(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::GetPolicyRequest*,
                                                       nfr::v1::GetPolicyResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "GetPolicy", &caller); !s.ok()) {
    return Reply(ctx, s);
  }
  *resp->mutable_policy() = api_.core->policy().Current();
  api_.trimmer->Request();  // a large reply is freed once sent
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ApplyPolicy(grpc::CallbackServerContext* ctx,
                                                         const nfr::v1::ApplyPolicyRequest* req,
                                                         nfr::v1::ApplyPolicyResponse* resp) {
  return Change(ctx, "ApplyPolicy", resp->mutable_policy(),
                [req](Core& core, const std::string& author) -> absl::StatusOr<nfr::v1::Policy> {
                  auto r = nfr::ApplyPolicy(core, *req, author);
                  if (!r.ok()) return r.status();
                  return r->policy();
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::AddRule(grpc::CallbackServerContext* ctx,
                                                     const nfr::v1::AddRuleRequest* req,
                                                     nfr::v1::AddRuleResponse* resp) {
  return Change(ctx, "AddRule", resp->mutable_policy(),
                [req](Core& core, const std::string& author) -> absl::StatusOr<nfr::v1::Policy> {
                  auto r = nfr::AddRule(core, *req, author);
                  if (!r.ok()) return r.status();
                  return r->policy();
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::RemoveRule(grpc::CallbackServerContext* ctx,
                                                        const nfr::v1::RemoveRuleRequest* req,
                                                        nfr::v1::RemoveRuleResponse* resp) {
  return Change(ctx, "RemoveRule", resp->mutable_policy(),
                [req](Core& core, const std::string& author) -> absl::StatusOr<nfr::v1::Policy> {
                  auto r = nfr::RemoveRule(core, *req, author);
                  if (!r.ok()) return r.status();
                  return r->policy();
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::UpdateSet(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::UpdateSetRequest* req,
                                                       nfr::v1::UpdateSetResponse* resp) {
  return Change(ctx, "UpdateSet", nullptr,
                [req, resp](Core& core, const std::string& author)
                    -> absl::StatusOr<nfr::v1::Policy> {
                  auto r = nfr::UpdateSet(core, *req, author);
                  if (!r.ok()) return r.status();
                  *resp = *std::move(r);
                  return nfr::v1::Policy();
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::Change(grpc::CallbackServerContext* ctx,
                                                    const char* method, nfr::v1::Policy* out,
                                                    PolicyCall call) {
  return FinishBlocking(api_, ctx, [=, this]() -> absl::Status {
    Caller caller;
    if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_ADMIN, method, &caller); !s.ok()) {
      return s;
    }
    if (absl::Status s = api_.changes->Take(PeerKey(caller), method); !s.ok()) return s;
    absl::StatusOr<nfr::v1::Policy> done = call(*api_.core, caller.identity);
    api_.trimmer->Request();  // the copies of the policy and the request are freed soon
    if (!done.ok()) return done.status();
    if (out != nullptr) *out = *std::move(done);
    return absl::OkStatus();
  });
}

}  // namespace nfr
