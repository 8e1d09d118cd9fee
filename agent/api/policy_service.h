// nfr.v1.PolicyService on the gRPC callback API.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "agent/api/api_context.h"
#include "nfr/v1/policy_service.grpc.pb.h"

namespace nfr {

class PolicyServiceImpl final : public nfr::v1::PolicyService::CallbackService {
 public:
  explicit PolicyServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* ctx,
                                      const nfr::v1::GetPolicyRequest* req,
                                      nfr::v1::GetPolicyResponse* resp) override;
  grpc::ServerUnaryReactor* ApplyPolicy(grpc::CallbackServerContext* ctx,
                                        const nfr::v1::ApplyPolicyRequest* req,
                                        nfr::v1::ApplyPolicyResponse* resp) override;
  grpc::ServerUnaryReactor* AddRule(grpc::CallbackServerContext* ctx,
                                    const nfr::v1::AddRuleRequest* req,
                                    nfr::v1::AddRuleResponse* resp) override;
  grpc::ServerUnaryReactor* RemoveRule(grpc::CallbackServerContext* ctx,
                                       const nfr::v1::RemoveRuleRequest* req,
                                       nfr::v1::RemoveRuleResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateSet(grpc::CallbackServerContext* ctx,
                                      const nfr::v1::UpdateSetRequest* req,
                                      nfr::v1::UpdateSetResponse* resp) override;

 private:
  using PolicyCall =
      std::function<absl::StatusOr<nfr::v1::Policy>(Core& core, const std::string& author)>;
  // An admin caller within api.limits.changes_per_second, then `call`
  // (agent/core/requests.h) with the caller as author; its result goes to `out`
  // (unless null). Runs on the blocking executor.
  grpc::ServerUnaryReactor* Change(grpc::CallbackServerContext* ctx, const char* method,
                                   nfr::v1::Policy* out, PolicyCall call);

  ApiContext& api_;
};

}  // namespace nfr
