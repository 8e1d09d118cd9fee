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
// No-op when already loaded (its parameters are then whatever it was loaded with).
absl::Status EnsureKmodLoaded(const KmodParams& params);

}  // namespace nfr::datapath
