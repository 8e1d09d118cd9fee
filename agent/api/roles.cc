#include "agent/api/roles.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nfr {
namespace {

std::string UserName(uid_t uid) {
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) return pw.pw_name;
  return "";
}

std::vector<std::string> GroupNames(uid_t uid, gid_t gid) {
  std::vector<gid_t> gids = {gid};
  const std::string user = UserName(uid);
  if (!user.empty()) {
    int n = 64;
    std::vector<gid_t> list(n);
    if (getgrouplist(user.c_str(), gid, list.data(), &n) == -1) {
      list.resize(n);
      getgrouplist(user.c_str(), gid, list.data(), &n);
    }
    list.resize(std::max(n, 0));
    gids.insert(gids.end(), list.begin(), list.end());
  }
  std::vector<std::string> names;
  for (gid_t g : gids) {
    struct group gr, *res = nullptr;
    char buf[8192];
    if (getgrgid_r(g, &gr, buf, sizeof(buf), &res) == 0 && res != nullptr) {
      names.push_back(gr.gr_name);
    }
  }
  return names;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case nfr::v1::ROLE_VIEWER:
      return "viewer";
    case nfr::v1::ROLE_DECIDER:
      return "decider";
    case nfr::v1::ROLE_ADMIN:
      return "admin";
    default:
      return "none";
  }
}

RoleMapper::RoleMapper(const nfr::v1::ApiConfig& config)
    : bindings_(config.role_bindings().begin(), config.role_bindings().end()),
      socket_group_(config.socket_group()),
      insecure_role_(config.insecure_tcp_role() == nfr::v1::ROLE_NONE
                         ? nfr::v1::ROLE_ADMIN
                         : config.insecure_tcp_role()) {}

Caller RoleMapper::ForUnixPeer(const UnixPeerCred& cred) const {
  const std::string user = UserName(cred.uid);
  const std::vector<std::string> groups = GroupNames(cred.uid, cred.gid);
  Caller c;
  c.identity = user.empty() ? absl::StrCat("uid:", cred.uid)
                            : absl::StrCat("uid:", cred.uid, "(", user, ")");
  for (const nfr::v1::RoleBinding& b : bindings_) {
    absl::string_view id = b.identity();
    bool match = false;
    if (absl::ConsumePrefix(&id, "uid:")) {
      uint32_t u;
      match = absl::SimpleAtoi(id, &u) && u == cred.uid;
    } else if (absl::ConsumePrefix(&id, "user:")) {
      match = !user.empty() && id == user;
    } else if (absl::ConsumePrefix(&id, "group:")) {
      match = std::find(groups.begin(), groups.end(), id) != groups.end();
    }
    if (match) {
      c.role = b.role();
      return c;
    }
  }
  if (cred.uid == 0 || cred.uid == geteuid()) {
    c.role = nfr::v1::ROLE_ADMIN;
  } else if (std::find(groups.begin(), groups.end(), socket_group_) != groups.end()) {
    c.role = nfr::v1::ROLE_DECIDER;
  } else {
    c.role = nfr::v1::ROLE_VIEWER;
  }
  return c;
}

Caller RoleMapper::ForCertificate(const CertIdentity& cert) const {
  Caller c;
  c.identity =
      absl::StrCat("cert:", cert.common_name.empty() ? (cert.sans.empty() ? "?" : cert.sans[0])
                                                     : cert.common_name);
  for (const nfr::v1::RoleBinding& b : bindings_) {
    absl::string_view id = b.identity();
    bool match = false;
    if (absl::ConsumePrefix(&id, "cert:")) {
      match = id == cert.common_name ||
              std::find(cert.sans.begin(), cert.sans.end(), id) != cert.sans.end();
    } else if (absl::ConsumePrefix(&id, "ou:")) {
      match = std::find(cert.ous.begin(), cert.ous.end(), id) != cert.ous.end();
    }
    if (match) {
      c.role = b.role();
      return c;
    }
  }
  std::vector<std::string> role_ous;
  for (const std::string& ou : cert.ous) {
    Role r = nfr::v1::ROLE_NONE;
    if (ou == "nfr-admin") r = nfr::v1::ROLE_ADMIN;
    if (ou == "nfr-decider") r = nfr::v1::ROLE_DECIDER;
    if (ou == "nfr-viewer") r = nfr::v1::ROLE_VIEWER;
    if (r == nfr::v1::ROLE_NONE || r == c.role) continue;
    role_ous.push_back(ou);
    c.role = r;
  }
  if (role_ous.size() > 1) {
    std::sort(role_ous.begin(), role_ous.end());
    c.role = nfr::v1::ROLE_NONE;
    c.why_none = absl::StrCat("the certificate has ", role_ous.size(), " role OUs (",
                              absl::StrJoin(role_ous, ", "),
                              "), which is ambiguous and refused; issue one role per certificate");
  } else if (c.role == nfr::v1::ROLE_NONE) {
    c.why_none =
        "the certificate has no OU=nfr-admin|nfr-decider|nfr-viewer and no api.role_bindings "
        "cert:/ou: entry matches it";
  }
  return c;
}

Caller RoleMapper::ForInsecureTcp(absl::string_view peer) const {
  return Caller{absl::StrCat("insecure-tcp:", peer), insecure_role_};
}

absl::Status ValidateRoleBindings(const nfr::v1::ApiConfig& config) {
  for (int i = 0; i < config.role_bindings_size(); ++i) {
    const nfr::v1::RoleBinding& b = config.role_bindings(i);
    absl::string_view id = b.identity();
    const bool known = absl::ConsumePrefix(&id, "uid:") || absl::ConsumePrefix(&id, "user:") ||
                       absl::ConsumePrefix(&id, "group:") || absl::ConsumePrefix(&id, "cert:") ||
                       absl::ConsumePrefix(&id, "ou:");
    uint32_t uid;
    if (!known || id.empty() ||
        (absl::StartsWith(b.identity(), "uid:") && !absl::SimpleAtoi(id, &uid))) {
      return absl::InvalidArgumentError(
          absl::StrCat("api.role_bindings[", i, "].identity: \"", b.identity(),
                       "\" is not uid:N, user:NAME, group:NAME, cert:NAME or ou:NAME"));
    }
    if (!nfr::v1::Role_IsValid(b.role()) || b.role() == nfr::v1::ROLE_NONE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "api.role_bindings[", i, "].role: use ROLE_VIEWER, ROLE_DECIDER or ROLE_ADMIN"));
    }
  }
  if (!nfr::v1::Role_IsValid(config.insecure_tcp_role())) {
    return absl::InvalidArgumentError(
        "api.insecure_tcp_role: use ROLE_VIEWER, ROLE_DECIDER or ROLE_ADMIN");
  }
  return absl::OkStatus();
}

absl::Status RequireRole(const Caller& caller, Role need, absl::string_view method) {
  if (caller.role >= need) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      method, " needs role ", RoleName(need), "; caller ", caller.identity, " has role ",
      RoleName(caller.role),
      caller.why_none.empty() ? "" : absl::StrCat(" (", caller.why_none, ")"),
      ". Grant it with an api.role_bindings entry (uid:/user:/group:/cert:/ou:) or use a "
      "client certificate with OU=nfr-",
      RoleName(need)));
}

std::vector<std::string> SubjectOus(absl::string_view subject) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(subject, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "OU=")) out.emplace_back(part);
  }
  return out;
}

}  // namespace nfr
