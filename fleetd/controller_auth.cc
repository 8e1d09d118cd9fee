#include "fleetd/controller_auth.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/api/roles.h"

namespace nfr {

absl::StatusOr<ControllerAuth> ControllerAuth::Create(const nfr::v1::FleetdConfig& config) {
  ControllerAuth a;
  for (int i = 0; i < config.role_bindings_size(); ++i) {
    const nfr::v1::FleetRoleBinding& b = config.role_bindings(i);
    const std::string field = absl::StrCat("role_bindings[", i, "]");
    const size_t colon = b.identity().find(':');
    Binding out;
    if (colon != std::string::npos) {
      out.kind = b.identity().substr(0, colon);
      out.name = b.identity().substr(colon + 1);
    }
    if ((out.kind != "cert" && out.kind != "ou") || out.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".identity: \"", b.identity(), "\" is not cert:NAME or ou:NAME"));
    }
    if (b.role() < nfr::v1::ROLE_VIEWER || b.role() > nfr::v1::ROLE_ADMIN) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".role: use ROLE_VIEWER, ROLE_DECIDER or ROLE_ADMIN"));
    }
    out.role = b.role();
    if (!b.selector().empty()) {
      absl::StatusOr<Selector> s = Selector::Parse(b.selector(), field + ".selector");
      if (!s.ok()) return s.status();
      out.scope = *std::move(s);
    }
    a.bindings_.push_back(std::move(out));
  }
  return a;
}

Controller ControllerAuth::Identify(const grpc::CallbackServerContext& ctx) const {
  Controller c;
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    c.identity = ctx.peer();
    return c;
  }
  auto values = [&](const char* prop) {
    std::vector<std::string> out;
    for (const grpc::string_ref& s : auth->FindPropertyValues(prop))
      out.emplace_back(s.data(), s.size());
    return out;
  };
  const std::vector<std::string> cn = values(GRPC_X509_CN_PROPERTY_NAME);
  const std::vector<std::string> sans = values(GRPC_X509_SAN_PROPERTY_NAME);
  const std::vector<std::string> subject = values(GRPC_X509_SUBJECT_PROPERTY_NAME);
  const std::vector<std::string> ous = SubjectOus(subject.empty() ? "" : subject[0]);
  c.identity = absl::StrCat("cert:", cn.empty() ? "?" : cn[0]);
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const Binding& b : bindings_) {
    const bool match = b.kind == "cert" ? (has(cn, b.name) || has(sans, b.name)) : has(ous, b.name);
    if (match) {
      c.role = b.role;
      c.scope = b.scope;
      return c;
    }
  }
  if (has(ous, "nfr-admin"))
    c.role = nfr::v1::ROLE_ADMIN;
  else if (has(ous, "nfr-decider"))
    c.role = nfr::v1::ROLE_DECIDER;
  else if (has(ous, "nfr-viewer"))
    c.role = nfr::v1::ROLE_VIEWER;
  return c;
}

absl::Status Require(const Controller& c, nfr::v1::Role need, absl::string_view method) {
  if (c.role >= need) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      method, " needs role ", RoleName(need), " at the gateway; caller ", c.identity, " has role ",
      RoleName(c.role),
      ". Grant it with a role_bindings entry in the gateway config or a certificate with OU=nfr-",
      RoleName(need)));
}

}  // namespace nfr
