#include "agent/api/policy_service.h"

#include "absl/strings/str_cat.h"
#include "agent/api/policy_commit.h"
#include "agent/policy/policy_validation.h"

namespace nfr {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* PolicyServiceImpl::GetPolicy(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::GetPolicyRequest*,
                                                       nfr::v1::GetPolicyResponse* resp) {
  Caller caller;
  if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_VIEWER, "GetPolicy", &caller); !s.ok()) {
    return Reply(ctx, s);
  }
  *resp->mutable_policy() = api_.control->GetPolicy();
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ApplyPolicy(grpc::CallbackServerContext* ctx,
                                                         const nfr::v1::ApplyPolicyRequest* req,
                                                         nfr::v1::ApplyPolicyResponse* resp) {
  return Change(
      ctx, "ApplyPolicy", req->has_expected_version(), req->expected_version(),
      resp->mutable_policy(),
      [req] {
        return req->has_policy()
                   ? absl::OkStatus()
                   : absl::InvalidArgumentError(
                         "policy: missing; send the whole policy (nfrctl policy apply -f FILE)");
      },
      [req](const nfr::v1::Policy&, nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
        *next = req->policy();
        return req->comment().empty() ? "apply" : req->comment();
      });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::AddRule(grpc::CallbackServerContext* ctx,
                                                     const nfr::v1::AddRuleRequest* req,
                                                     nfr::v1::AddRuleResponse* resp) {
  return Change(
      ctx, "AddRule", req->has_expected_version(), req->expected_version(), resp->mutable_policy(),
      [req] { return ValidateRule(req->rule(), "rule"); },
      [req](const nfr::v1::Policy& current, nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
        for (const nfr::v1::Rule& r : current.rules()) {
          if (r.id() == req->rule().id()) {
            return absl::AlreadyExistsError(
                absl::StrCat("rule.id: a rule \"", r.id(), "\" already exists in policy version ",
                             current.version(), "; pick another id or remove it first"));
          }
        }
        const int size = next->rules_size();
        const int pos = req->has_position()
                            ? static_cast<int>(std::min<uint32_t>(req->position(), size))
                            : size;
        *next->add_rules() = req->rule();
        for (int i = size; i > pos; --i) next->mutable_rules()->SwapElements(i, i - 1);
        return absl::StrCat("add rule ", req->rule().id());
      });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::RemoveRule(grpc::CallbackServerContext* ctx,
                                                        const nfr::v1::RemoveRuleRequest* req,
                                                        nfr::v1::RemoveRuleResponse* resp) {
  return Change(
      ctx, "RemoveRule", req->has_expected_version(), req->expected_version(),
      resp->mutable_policy(), [] { return absl::OkStatus(); },
      [req](const nfr::v1::Policy& current, nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
        next->clear_rules();
        bool found = false;
        for (const nfr::v1::Rule& r : current.rules()) {
          if (r.id() == req->rule_id()) {
            found = true;
          } else {
            *next->add_rules() = r;
          }
        }
        if (!found) {
          return absl::NotFoundError(absl::StrCat("rule_id: no rule \"", req->rule_id(),
                                                  "\" in policy version ", current.version(),
                                                  "; list rules with nfrctl policy get"));
        }
        return absl::StrCat("remove rule ", req->rule_id());
      });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::Change(grpc::CallbackServerContext* ctx,
                                                    const char* method, bool has_expected,
                                                    uint64_t expected, nfr::v1::Policy* out,
                                                    std::function<absl::Status()> validate,
                                                    PolicyEdit edit) {
  return FinishBlocking(api_, ctx, [=, this]() -> absl::Status {
    Caller caller;
    if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_ADMIN, method, &caller); !s.ok()) {
      return s;
    }
    if (absl::Status s = validate(); !s.ok()) return s;
    std::lock_guard<std::mutex> l(api_.policy_mu);
    const nfr::v1::Policy current = api_.control->GetPolicy();
    if (absl::Status s = CheckExpectedVersion(current, has_expected, expected); !s.ok()) return s;
    nfr::v1::Policy next = current;
    absl::StatusOr<std::string> comment = edit(current, &next);
    if (!comment.ok()) return comment.status();
    next.set_version(current.version() + 1);
    absl::StatusOr<nfr::v1::Policy> done =
        CommitPolicy(api_, current, next, caller, *comment, "policy");
    if (!done.ok()) return done.status();
    *out = *done;
    return absl::OkStatus();
  });
}

}  // namespace nfr
