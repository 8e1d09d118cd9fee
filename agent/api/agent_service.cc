#include "agent/api/agent_service.h"

#include "agent/core/requests.h"

namespace nfr {

nfr::v1::AgentStatus ApiStatusReport(ApiContext& api) {
  nfr::v1::AgentStatus st = AgentStatusReport(*api.core, api.started, api.events_lost.load());
  if (api.status_extra) api.status_extra(&st);
  nfr::v1::AgentCounters* c = st.mutable_counters();
  c->set_api_connections_refused(api.connections.refused.load());
  c->set_api_connections_open(api.connections.open.load());
  c->set_api_streams_refused(api.streams->refused());
  c->set_api_rate_limited(api.changes->limited());
  return st;
}

grpc::ServerUnaryReactor* AgentServiceImpl::GetStatus(grpc::CallbackServerContext* ctx,
                                                      const nfr::v1::GetStatusRequest*,
                                                      nfr::v1::AgentStatus* resp) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "GetStatus", &caller); !s.ok()) {
    r->Finish(ToGrpc(s));
    return r;
  }
  *resp = ApiStatusReport(api_);
  resp->set_caller(caller.identity);
  resp->set_caller_role(std::string(RoleName(caller.role)));
  r->Finish(grpc::Status::OK);
  return r;
}

}  // namespace nfr
