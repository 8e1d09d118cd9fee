// What the gateway's controller-facing services share: the registry, the
// store, controller authentication and the routing of one call to the agent
// named by the `nfr-agent-id` request metadata.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fleetd/controller_auth.h"
#include "fleetd/fleet_store.h"
#include "fleetd/registry.h"

namespace nfr {

inline constexpr char kAgentIdMetadata[] = "nfr-agent-id";

struct Gateway {
  Registry* registry = nullptr;
  FleetStore* store = nullptr;
  const ControllerAuth* auth = nullptr;
  absl::Duration request_timeout = absl::Seconds(10);
  size_t watcher_queue = 4096;
};

grpc::Status ToGrpcStatus(const absl::Status& s);

// The caller (with at least `need`) and the agent its call is for: INVALID_ARGUMENT
// without `nfr-agent-id`, NOT_FOUND for an unknown agent, PERMISSION_DENIED when
// the agent is outside the caller's scope.
absl::Status Route(const Gateway& gw, const grpc::CallbackServerContext& ctx, nfr::v1::Role need,
                   absl::string_view method, Controller* caller, std::string* agent_id);

// Forwards `req` to the routed agent and finishes the call with the part of
// its answer `take` selects.
template <typename Resp>
grpc::ServerUnaryReactor* Forward(const Gateway& gw, grpc::CallbackServerContext* ctx,
                                  nfr::v1::Role need, absl::string_view method,
                                  nfr::v1::LinkRequest req, Resp* resp,
                                  const Resp& (nfr::v1::LinkResponse::*take)() const) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  Controller caller;
  std::string agent;
  if (absl::Status s = Route(gw, *ctx, need, method, &caller, &agent); !s.ok()) {
    r->Finish(ToGrpcStatus(s));
    return r;
  }
  req.set_caller(caller.identity);
  gw.registry->Call(agent, std::move(req), gw.request_timeout,
                    [r, resp, take](absl::StatusOr<nfr::v1::LinkResponse> out) {
                      if (!out.ok()) {
                        r->Finish(ToGrpcStatus(out.status()));
                        return;
                      }
                      *resp = ((*out).*take)();
                      r->Finish(grpc::Status::OK);
                    });
  return r;
}

}  // namespace nfr
