// What the verdict engine needs from the BPF flow cache; the agent adapts its
// Datapath to it, unit tests use an in-memory map.
#pragma once

#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
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

  // Full value: origin, rule, origin_id; expires_ns is absolute CLOCK_MONOTONIC (0 = never).
  virtual absl::Status SetFlow(const nfr_flow_key& /*key*/, const nfr_flow_value& /*value*/) {
    return absl::UnimplementedError("this flow cache cannot store full flow values");
  }
  // Every live entry, a chunk at a time (batch map ops on the real cache).
  using FlowChunkFn =
      absl::FunctionRef<void(absl::Span<const nfr_flow_key>, absl::Span<const nfr_flow_value>)>;
  virtual absl::Status DumpFlows(FlowChunkFn /*fn*/) const {
    return absl::UnimplementedError("this flow cache cannot be listed");
  }
  virtual absl::Status UpdateFlows(absl::Span<const nfr_flow_key> keys,
                                   absl::Span<const nfr_flow_value> values) {
    if (keys.size() != values.size()) return absl::InvalidArgumentError("keys/values differ");
    for (size_t i = 0; i < keys.size(); ++i) {
      if (auto st = SetFlow(keys[i], values[i]); !st.ok()) return st;
    }
    return absl::OkStatus();
  }
  virtual absl::Status DeleteFlows(absl::Span<const nfr_flow_key> keys) {
    for (const auto& k : keys) {
      if (auto st = DeleteFlow(k); !st.ok()) return st;
    }
    return absl::OkStatus();
  }
};

}  // namespace nfr
