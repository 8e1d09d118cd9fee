#include "agent/api/agent_service.h"

#include "agent/core/requests.h"

namespace nfr {

grpc::ServerUnaryReactor* AgentServiceImpl::GetStatus(grpc::CallbackServerContext* ctx,
                                                      const nfr::v1::GetStatusRequest*,
                                                      nfr::v1::AgentStatus* resp) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "GetStatus", &caller); !s.ok()) {
    r->Finish(ToGrpc(s));
    return r;
  }
  *resp = AgentStatusReport(*api_.core, api_.started, api_.events_lost.load());
  if (api_.status_extra) api_.status_extra(resp);
  nfr::v1::AgentCounters* c = resp->mutable_counters();
  c->set_api_connections_refused(api_.connections.refused.load());
  c->set_api_connections_open(api_.connections.open.load());
  c->set_api_streams_refused(api_.streams->refused());
  c->set_api_rate_limited(api_.changes->limited());
  resp->set_caller(caller.identity);
  resp->set_caller_role(std::string(RoleName(caller.role)));
  r->Finish(grpc::Status::OK);
  return r;
}

}  // namespace nfr
