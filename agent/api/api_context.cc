#include "agent/api/api_context.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/util/log.h"
#include "agent/util/log_budget.h"

namespace nfr {
namespace {

std::string First(const grpc::AuthContext& a, const char* name) {
  std::vector<grpc::string_ref> v = a.FindPropertyValues(name);
  return v.empty() ? std::string() : std::string(v[0].data(), v[0].size());
}

}  // namespace

Caller ApiContext::Identify(const grpc::CallbackServerContext& ctx) const {
  const std::string peer = ctx.peer();
  if (absl::StartsWith(peer, "fd:")) {
    if (peers != nullptr) {
      if (std::optional<Caller> c = peers->Find(peer)) return *c;
    }
    return Caller{"unix:unknown-peer", nfr::v1::ROLE_NONE};
  }
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    CertIdentity cert;
    cert.common_name = First(*auth, GRPC_X509_CN_PROPERTY_NAME);
    for (const grpc::string_ref& s : auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
      cert.sans.emplace_back(s.data(), s.size());
    }
    cert.ous = SubjectOus(First(*auth, GRPC_X509_SUBJECT_PROPERTY_NAME));
    return roles->ForCertificate(cert);
  }
  if (insecure_tcp && (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:"))) {
    // Only reachable when the TCP listener runs without TLS (insecure_tcp).
    return roles->ForInsecureTcp(peer);
  }
  return Caller{peer, nfr::v1::ROLE_NONE};
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), BoundErrorMessage(s.message()));
}

std::string PeerKey(const Caller& caller) {
  absl::string_view id = caller.identity;
  if (absl::StartsWith(id, "insecure-tcp:")) {
    const size_t colon = id.rfind(':');
    if (colon != absl::string_view::npos && colon > 13) id = id.substr(0, colon);
  }
  return std::string(id);
}

grpc::ServerUnaryReactor* FinishBlocking(ApiContext& api, grpc::CallbackServerContext* ctx,
                                         std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  api.executor->Run([r, work = std::move(work)] { r->Finish(ToGrpc(work())); });
  return r;
}

absl::Status Authorize(const ApiContext& api, const grpc::CallbackServerContext& ctx, Role need,
                       absl::string_view method, Caller* caller) {
  *caller = api.Identify(ctx);
  absl::Status s = RequireRole(*caller, need, method);
  static auto* budget = new LogBudget(5, [](uint64_t n) {
    LogLine(absl::StrCat("nfr-agent: api: ", n, " more calls refused for lack of a role"));
  });
  if (!s.ok() && budget->Allow()) {
    LogLine(absl::StrCat("nfr-agent: api: refused ", method, " from ", ctx.peer(), ": ",
                         BoundErrorMessage(s.message())));
  }
  return s;
}

}  // namespace nfr
