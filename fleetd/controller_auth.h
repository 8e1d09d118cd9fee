// Who a controller is at the gateway (mTLS client certificate) and what it
// may do: a role (viewer / decider / admin, as at an agent) and optionally a
// label selector limiting which agents it sees and reaches.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fleetd/selector.h"
#include "nfr/v1/fleet.pb.h"
#include "nfr/v1/fleetd_config.pb.h"

namespace nfr {

struct Controller {
  std::string identity;  // "cert:CN"
  nfr::v1::Role role = nfr::v1::ROLE_NONE;
  std::optional<Selector> scope;  // nullopt = every agent

  bool Reaches(const nfr::v1::FleetAgent& agent) const {
    return !scope.has_value() || scope->Matches(agent.labels());
  }
};

class ControllerAuth {
 public:
  // INVALID_ARGUMENT naming role_bindings[i] for a bad identity or selector.
  static absl::StatusOr<ControllerAuth> Create(const nfr::v1::FleetdConfig& config);
  Controller Identify(const grpc::CallbackServerContext& ctx) const;

 private:
  struct Binding {
    std::string kind, name;
    nfr::v1::Role role;
    std::optional<Selector> scope;
  };
  std::vector<Binding> bindings_;
};

// PERMISSION_DENIED naming the role needed and who the caller is.
absl::Status Require(const Controller& c, nfr::v1::Role need, absl::string_view method);

}  // namespace nfr
