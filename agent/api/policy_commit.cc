#include "agent/api/policy_commit.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/api/request_validation.h"

namespace nfr {

absl::StatusOr<nfr::v1::Policy> CommitPolicy(ApiContext& api, const nfr::v1::Policy& current,
                                             const nfr::v1::Policy& next, const Caller& caller,
                                             absl::string_view comment, absl::string_view field) {
  if (absl::Status s = ValidatePolicyForApi(next, field); !s.ok()) return s;
  if (absl::Status s = api.control->InstallPolicy(next); !s.ok()) return s;
  if (absl::Status s = api.store->SavePolicy(next, caller.identity, comment); !s.ok()) {
    absl::Status back = api.control->InstallPolicy(current);
    return absl::InternalError(absl::StrCat(
        "policy version ", next.version(), " could not be stored (", s.message(), "); the agent ",
        back.ok() ? "kept" : "could not restore", " version ", current.version(),
        ". Check free space and permissions of ", api.store->path()));
  }
  return api.control->GetPolicy();
}

absl::Status CheckExpectedVersion(const nfr::v1::Policy& current, bool has_expected,
                                  uint64_t expected) {
  if (!has_expected || expected == current.version()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "expected_version: policy is at version ", current.version(), ", not ", expected,
      "; fetch the current policy (nfrctl policy get), reapply your change and retry"));
}

absl::Status RestoreOrSeedPolicy(AgentControl* control, Store* store) {
  absl::StatusOr<std::optional<nfr::v1::Policy>> latest = store->LatestPolicy();
  if (!latest.ok()) return latest.status();
  if (latest->has_value()) {
    absl::Status s = control->InstallPolicy(**latest);
    if (!s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("stored policy version ", (*latest)->version(), " in ", store->path(),
                       " is not accepted by this agent: ", s.message(),
                       "; fix it with a newer nfrctl policy apply or move the database away"));
    }
    std::string line = absl::StrCat(
        "nfr-agent: policy version ", (*latest)->version(), " restored from ", store->path(),
        " (the config file's policy only seeds a new database; change it with nfrctl policy "
        "apply)\n");
    std::fputs(line.c_str(), stderr);
    return absl::OkStatus();
  }
  nfr::v1::Policy p = control->GetPolicy();
  if (p.version() == 0) {
    p.set_version(1);
    if (absl::Status s = control->InstallPolicy(p); !s.ok()) return s;
  }
  return store->SavePolicy(p, "nfr-agent", "initial policy from configuration");
}

}  // namespace nfr
