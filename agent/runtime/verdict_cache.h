// What the verdict engine needs from the BPF flow cache; the agent adapts its
// Datapath to it, unit tests use an in-memory map.
#pragma once

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nfr_abi.h"

namespace nfr {

class VerdictCache {
 public:
  virtual ~VerdictCache() = default;
  virtual absl::Status SetFlowVerdict(const nfr_flow_key& key, nfr_verdict verdict,
                                      absl::Duration ttl) = 0;
  virtual absl::Status DeleteFlow(const nfr_flow_key& key) = 0;
  // Live (unexpired) entries only.
  virtual std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const = 0;
};

}  // namespace nfr
