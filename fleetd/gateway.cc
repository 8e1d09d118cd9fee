#include "fleetd/gateway.h"

#include "absl/strings/str_cat.h"

namespace nfr {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status Route(const Gateway& gw, const grpc::CallbackServerContext& ctx, nfr::v1::Role need,
                   absl::string_view method, Controller* caller, std::string* agent_id) {
  *caller = gw.auth->Identify(ctx);
  if (absl::Status s = Require(*caller, need, method); !s.ok()) return s;
  auto it = ctx.client_metadata().find(kAgentIdMetadata);
  if (it == ctx.client_metadata().end() || it->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(method, " at the gateway needs the agent it is for: request metadata ",
                     kAgentIdMetadata, " (nfrctl --agent ID); list agents with nfrctl fleet ls"));
  }
  *agent_id = std::string(it->second.data(), it->second.size());
  std::optional<nfr::v1::FleetAgent> a = gw.registry->Find(*agent_id);
  if (!a.has_value()) {
    return absl::NotFoundError(absl::StrCat("agent ", *agent_id,
                                            " is unknown to this gateway; list agents with "
                                            "nfrctl fleet ls"));
  }
  if (!caller->Reaches(*a)) {
    return absl::PermissionDeniedError(
        absl::StrCat("agent ", *agent_id, " is outside the scope of ", caller->identity,
                     " (role_bindings selector ", caller->scope->Canonical(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace nfr
