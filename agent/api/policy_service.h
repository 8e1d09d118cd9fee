// nfr.v1.PolicyService on the gRPC callback API.
#pragma once

#include <functional>
#include <string>

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

 private:
  // Turns the current policy into `next` (a copy of it); returns the comment
  // stored with the new version.
  using PolicyEdit = std::function<absl::StatusOr<std::string>(const nfr::v1::Policy& current,
                                                               nfr::v1::Policy* next)>;

  // The path of every policy change: an admin caller, a `validate`d request,
  // then under policy_mu the expected version, `edit` and the commit into `out`.
  grpc::ServerUnaryReactor* Change(grpc::CallbackServerContext* ctx, const char* method,
                                   bool has_expected, uint64_t expected, nfr::v1::Policy* out,
                                   std::function<absl::Status()> validate, PolicyEdit edit);

  ApiContext& api_;
};

}  // namespace nfr
