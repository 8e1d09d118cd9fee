#include "agent/api/flow_service.h"

#include "agent/core/requests.h"

namespace nfr {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* FlowServiceImpl::ListFlows(grpc::CallbackServerContext* ctx,
                                                     const nfr::v1::ListFlowsRequest* req,
                                                     nfr::v1::ListFlowsResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "ListFlows", &caller); !s.ok()) {
    return Reply(ctx, s);
  }
  return FinishBlocking(api_, ctx, [this, req, resp]() -> absl::Status {
    absl::StatusOr<nfr::v1::ListFlowsResponse> page = nfr::ListFlows(*api_.core, *req);
    if (!page.ok()) return page.status();
    *resp = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FlowServiceImpl::DeleteFlows(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::ChangeFlowsRequest* req,
                                                       nfr::v1::ChangeFlowsResponse* resp) {
  return Change(ctx, FlowChangeCommand::kForget, "DeleteFlows", req, resp);
}

grpc::ServerUnaryReactor* FlowServiceImpl::DenyFlows(grpc::CallbackServerContext* ctx,
                                                     const nfr::v1::ChangeFlowsRequest* req,
                                                     nfr::v1::ChangeFlowsResponse* resp) {
  return Change(ctx, FlowChangeCommand::kDeny, "DenyFlows", req, resp);
}

grpc::ServerUnaryReactor* FlowServiceImpl::Change(grpc::CallbackServerContext* ctx,
                                                  FlowChangeCommand::Kind kind, const char* method,
                                                  const nfr::v1::ChangeFlowsRequest* req,
                                                  nfr::v1::ChangeFlowsResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_DECIDER, method, &caller); !s.ok()) {
    return Reply(ctx, s);
  }
  return FinishBlocking(api_, ctx,
                        [this, kind, req, resp, who = caller.identity]() -> absl::Status {
                          absl::StatusOr<nfr::v1::ChangeFlowsResponse> out =
                              nfr::ChangeFlows(*api_.core, kind, *req, who);
                          if (!out.ok()) return out.status();
                          *resp = *std::move(out);
                          return absl::OkStatus();
                        });
}

}  // namespace nfr
