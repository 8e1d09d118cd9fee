// One agent's outcome of a policy push (rollout or catch-up), as reported to controllers.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nfr/v1/fleet.pb.h"
#include "nfr/v1/link.pb.h"

namespace nfr {

inline void SetRolloutOutcome(const absl::StatusOr<nfr::v1::LinkResponse>& out,
                              nfr::v1::RolloutResult* r) {
  if (out.ok()) {
    r->set_ok(true);
    r->set_applied_version(out->apply_policy().policy().version());
  } else {
    r->set_code(static_cast<int32_t>(out.status().code()));
    r->set_error(std::string(out.status().message()));
  }
}

}  // namespace nfr
