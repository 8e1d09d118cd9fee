// nfr.v1.ConnectionService on the gRPC callback API: pending list/watch and
// Decide (including RULE scope, which adds a policy rule first).
#pragma once

#include "agent/api/api_context.h"
#include "nfr/v1/connection_service.grpc.pb.h"

namespace nfr {

class ConnectionServiceImpl final : public nfr::v1::ConnectionService::CallbackService {
 public:
  explicit ConnectionServiceImpl(ApiContext& api) : api_(api) {}

  grpc::ServerUnaryReactor* ListPending(grpc::CallbackServerContext* ctx,
                                        const nfr::v1::ListPendingRequest* req,
                                        nfr::v1::ListPendingResponse* resp) override;
  grpc::ServerWriteReactor<nfr::v1::PendingEvent>* WatchPending(
      grpc::CallbackServerContext* ctx, const nfr::v1::WatchPendingRequest* req) override;
  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* ctx,
                                   const nfr::v1::DecideRequest* req,
                                   nfr::v1::DecideResponse* resp) override;

 private:
  struct DecideCheck {
    Caller caller;
    nfr::v1::DecisionScope scope = nfr::v1::DECISION_SCOPE_ONCE;
    nfr::v1::PendingConnection pending;
  };
  // Authorizes, validates and finds the pending connection; changes nothing.
  absl::Status CheckDecide(const grpc::CallbackServerContext& ctx,
                           const nfr::v1::DecideRequest* req, DecideCheck* check);
  // RULE scope: stores and installs the derived rule (blocking).
  absl::Status AddDecidedRule(const nfr::v1::DecideRequest* req, const DecideCheck& check,
                              nfr::v1::DecideResponse* resp);
  // Applies the verdict in the agent (non-blocking); the decision to log.
  absl::StatusOr<nfr::v1::Decision> Resolve(const nfr::v1::DecideRequest* req,
                                            const DecideCheck& check,
                                            const nfr::v1::DecideResponse* resp);
  // Writes the decision log entry durably (blocking) and fills the response.
  absl::Status LogDecision(nfr::v1::Decision record, nfr::v1::DecideResponse* resp);

  ApiContext& api_;
};

// The rule a RULE-scope decision adds for `pending` (exact 5-tuple minus the
// source port, on its interface and direction).
nfr::v1::Rule RuleFromPending(const nfr::v1::PendingConnection& pending, nfr::v1::Verdict verdict,
                              const std::string& id, const std::string& comment);

}  // namespace nfr
