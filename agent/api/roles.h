// Who is calling and what they may do: maps Unix-socket peers (SO_PEERCRED)
// and mTLS client certificates to viewer / decider / admin (README.md).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

using nfr::v1::Role;

struct Caller {
  Caller() = default;
  Caller(std::string id, Role r) : identity(std::move(id)), role(r) {}

  std::string identity;  // "uid:0(root)", "cert:CN", "insecure-tcp:ipv4:..."
  Role role = nfr::v1::ROLE_NONE;
  std::string why_none;  // for ROLE_NONE: why no role was granted (shown in errors)
};

struct UnixPeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct CertIdentity {
  std::string common_name;
  std::vector<std::string> sans;
  std::vector<std::string> ous;  // subject OU values
};

absl::string_view RoleName(Role role);  // "viewer", "decider", "admin", "none"

class RoleMapper {
 public:
  explicit RoleMapper(const nfr::v1::ApiConfig& config);

  // Defaults: uid 0 and the agent's own uid -> admin; members of the socket
  // group -> decider; anyone else who can connect -> viewer.
  Caller ForUnixPeer(const UnixPeerCred& cred) const;
  // Defaults: OU "nfr-admin" / "nfr-decider" / "nfr-viewer" -> that role;
  // otherwise none (every nfr.v1 call is refused). A certificate with two
  // different role OUs gets none: it is ambiguous, so it is refused rather
  // than given the higher role.
  Caller ForCertificate(const CertIdentity& cert) const;
  Caller ForInsecureTcp(absl::string_view peer) const;

 private:
  std::vector<nfr::v1::RoleBinding> bindings_;
  std::string socket_group_;
  Role insecure_role_;
};

// INVALID_ARGUMENT naming api.role_bindings[i] when an identity has no known
// prefix or a role is out of range.
absl::Status ValidateRoleBindings(const nfr::v1::ApiConfig& config);

// PERMISSION_DENIED naming the missing role and who the caller is.
absl::Status RequireRole(const Caller& caller, Role need, absl::string_view method);

// Parses "CN=a,OU=b,O=c" (RFC 2253 as gRPC prints it) into OU values.
std::vector<std::string> SubjectOus(absl::string_view subject);

}  // namespace nfr
