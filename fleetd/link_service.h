// nfr.v1.ControllerLink on the gateway: admits an attached agent under its
// certificate CN (refusing a Hello that claims another id), sends Welcome,
// then feeds the registry with what the agent streams and acknowledges
// uploaded decisions.
#pragma once

#include "fleetd/registry.h"
#include "nfr/v1/link.grpc.pb.h"

namespace nfr {

class LinkServiceImpl final : public nfr::v1::ControllerLink::CallbackService {
 public:
  explicit LinkServiceImpl(Registry* registry) : registry_(registry) {}
  grpc::ServerBidiReactor<nfr::v1::AgentFrame, nfr::v1::ControllerFrame>* Attach(
      grpc::CallbackServerContext* ctx) override;

 private:
  Registry* const registry_;
};

}  // namespace nfr
