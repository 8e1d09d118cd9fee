// Loads the nfr_redirect kernel module (native mode) with the agent's queue parameters.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace nfr::datapath {

struct KmodParams {
  uint32_t queue_num = 4200;
  uint32_t queue_count = 1;
  bool fail_closed = false;
};

bool KmodLoaded();
// When already loaded, checks that its queue parameters match (FAILED_PRECONDITION otherwise).
absl::Status EnsureKmodLoaded(const KmodParams& params);

}  // namespace nfr::datapath
