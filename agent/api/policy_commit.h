// The one path every policy change takes: validate, install into the agent,
// store the new version durably (rolling the agent back if storing fails).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/api/api_context.h"

namespace nfr {

// Caller holds api.policy_mu. `next.version` must already be set.
absl::StatusOr<nfr::v1::Policy> CommitPolicy(ApiContext& api, const nfr::v1::Policy& current,
                                             const nfr::v1::Policy& next, const Caller& caller,
                                             absl::string_view comment, absl::string_view field);

// FAILED_PRECONDITION when `expected` is set and differs from `current`.
absl::Status CheckExpectedVersion(const nfr::v1::Policy& current, bool has_expected,
                                  uint64_t expected);

// At API start: install the stored policy, or store the agent's current one
// as the first version.
absl::Status RestoreOrSeedPolicy(AgentControl* control, Store* store);

}  // namespace nfr
