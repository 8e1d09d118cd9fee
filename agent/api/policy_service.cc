#include "agent/api/policy_service.h"

#include "absl/strings/str_cat.h"

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
  *resp->mutable_policy() = api_.core->policy().Current();
  api_.trimmer->Request();  // a large reply is freed once sent
  return Reply(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ApplyPolicy(grpc::CallbackServerContext* ctx,
                                                         const nfr::v1::ApplyPolicyRequest* req,
                                                         nfr::v1::ApplyPolicyResponse* resp) {
  return Change(ctx, "ApplyPolicy", resp->mutable_policy(),
                [req](PolicyBook& book, PolicyChange c) -> absl::StatusOr<nfr::v1::Policy> {
                  if (!req->has_policy()) {
                    return absl::InvalidArgumentError(
                        "policy: missing; send the whole policy (nfrctl policy apply -f FILE)");
                  }
                  if (req->has_expected_version()) c.expected_version = req->expected_version();
                  c.comment = req->comment();
                  return book.Apply(req->policy(), c);
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::AddRule(grpc::CallbackServerContext* ctx,
                                                     const nfr::v1::AddRuleRequest* req,
                                                     nfr::v1::AddRuleResponse* resp) {
  return Change(ctx, "AddRule", resp->mutable_policy(),
                [req](PolicyBook& book, PolicyChange c) -> absl::StatusOr<nfr::v1::Policy> {
                  if (req->has_expected_version()) c.expected_version = req->expected_version();
                  return book.AddRule(req->rule(),
                                      req->has_position() ? std::optional<uint32_t>(req->position())
                                                          : std::nullopt,
                                      c);
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::RemoveRule(grpc::CallbackServerContext* ctx,
                                                        const nfr::v1::RemoveRuleRequest* req,
                                                        nfr::v1::RemoveRuleResponse* resp) {
  return Change(ctx, "RemoveRule", resp->mutable_policy(),
                [req](PolicyBook& book, PolicyChange c) -> absl::StatusOr<nfr::v1::Policy> {
                  if (req->has_expected_version()) c.expected_version = req->expected_version();
                  return book.RemoveRule(req->rule_id(), c);
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::UpdateSet(grpc::CallbackServerContext* ctx,
                                                       const nfr::v1::UpdateSetRequest* req,
                                                       nfr::v1::UpdateSetResponse* resp) {
  return Change(ctx, "UpdateSet", nullptr,
                [req, resp](PolicyBook& book, PolicyChange c) -> absl::StatusOr<nfr::v1::Policy> {
                  if (req->has_expected_version()) c.expected_version = req->expected_version();
                  c.comment = req->comment();
                  PolicyBook::SetDelta d;
                  d.name = req->name();
                  d.add.assign(req->add().begin(), req->add().end());
                  d.remove.assign(req->remove().begin(), req->remove().end());
                  d.add_ports.assign(req->add_ports().begin(), req->add_ports().end());
                  d.remove_ports.assign(req->remove_ports().begin(), req->remove_ports().end());
                  SetDeltaResult r;
                  absl::StatusOr<nfr::v1::Policy> p = book.UpdateSet(d, c, &r);
                  if (!p.ok()) return p.status();
                  resp->set_version(p->version());
                  resp->set_added(r.added);
                  resp->set_already_present(r.already_present);
                  resp->set_removed(r.removed);
                  resp->set_absent(r.absent);
                  resp->set_size(r.size);
                  return p;
                });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::Change(grpc::CallbackServerContext* ctx,
                                                    const char* method, nfr::v1::Policy* out,
                                                    PolicyCall call) {
  return FinishBlocking(api_, ctx, [=, this]() -> absl::Status {
    Caller caller;
    if (absl::Status s = Authorize(api_, *ctx, nfr::v1::ROLE_ADMIN, method, &caller); !s.ok()) {
      return s;
    }
    if (absl::Status s = api_.changes->Take(PeerKey(caller), method); !s.ok()) return s;
    PolicyChange change;
    change.author = caller.identity;
    absl::StatusOr<nfr::v1::Policy> done = call(api_.core->policy(), std::move(change));
    api_.trimmer->Request();  // the copies of the policy and the request are freed soon
    if (!done.ok()) return done.status();
    if (out != nullptr) *out = *std::move(done);
    return absl::OkStatus();
  });
}

}  // namespace nfr
