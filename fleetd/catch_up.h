// Brings an agent that attaches to the group policy it missed (it was down
// during the rollout, newly labelled, or its apply failed): the newest group
// policy whose selector matches its labels, when the gateway has no record of
// it applying that group version. Applied with expected_version = the policy
// version in its Hello; the result is a rollout-history entry.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "fleetd/fleet_store.h"
#include "fleetd/registry.h"
#include "nfr/v1/link.pb.h"

namespace nfr {

class GroupCatchUp {
 public:
  GroupCatchUp(Registry* registry, FleetStore* store, absl::Duration timeout)
      : registry_(registry), store_(store), timeout_(timeout) {}

  // Call after the Welcome went out on agent `id`'s link; does not block.
  void Attached(const std::string& id, const nfr::v1::Hello& hello);

 private:
  Registry* const registry_;
  FleetStore* const store_;
  const absl::Duration timeout_;
};

}  // namespace nfr
