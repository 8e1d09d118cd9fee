// nfr.v1.ControllerLink on the gateway: admits an attached agent under its
// certificate CN (refusing a Hello that claims another id), sends Welcome,
// then feeds the registry with what the agent streams and acknowledges
// uploaded decisions. After Welcome, the agent is brought to a group policy
// it missed (GroupCatchUp).
#pragma once

#include "fleetd/catch_up.h"
#include "fleetd/registry.h"
#include "nfr/v1/link.grpc.pb.h"

namespace nfr {

class LinkServiceImpl final : public nfr::v1::ControllerLink::CallbackService {
 public:
  // `catch_up` may be null (no group policies are applied on attach).
  LinkServiceImpl(Registry* registry, GroupCatchUp* catch_up)
      : registry_(registry), catch_up_(catch_up) {}
  grpc::ServerBidiReactor<nfr::v1::AgentFrame, nfr::v1::ControllerFrame>* Attach(
      grpc::CallbackServerContext* ctx) override;

 private:
  Registry* const registry_;
  GroupCatchUp* const catch_up_;
};

}  // namespace nfr
