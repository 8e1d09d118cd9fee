// Sends the verdict for a packet the handler held (NFQUEUE). Thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace nfr {

class HeldVerdictSender {
 public:
  virtual ~HeldVerdictSender() = default;
  virtual absl::Status SendVerdict(uint16_t queue, uint32_t packet_id, bool accept) = 0;
};

}  // namespace nfr
