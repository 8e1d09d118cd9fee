// The flow cache as the verdict engine uses it: write a decision with its
// origin, look one up, and list/rewrite/delete in bulk when the policy
// changes. FlowCache is the BPF map; MemoryVerdictCache stands in for it
// where no kernel is involved.
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
  // Writes `value` (its expires_ns is ignored) to live for `ttl`; Infinite = never expires.
  virtual absl::Status SetFlow(const nfr_flow_key& key, const nfr_flow_value& value,
                               absl::Duration ttl) = 0;
  virtual absl::Status DeleteFlow(const nfr_flow_key& key) = 0;  // absent is OK
  // SetFlow for each keys[i], values[i], ttls[i]; one syscall where the cache can batch.
  virtual absl::Status SetFlows(absl::Span<const nfr_flow_key> keys,
                                absl::Span<const nfr_flow_value> values,
                                absl::Span<const absl::Duration> ttls) {
    absl::Status result;
    for (size_t i = 0; i < keys.size(); ++i) result.Update(SetFlow(keys[i], values[i], ttls[i]));
    return result;
  }
  // Live (unexpired) entries only.
  virtual std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const = 0;

  // Every live entry, a chunk at a time; spans are valid during the call only.
  using FlowChunkFn =
      absl::FunctionRef<void(absl::Span<const nfr_flow_key>, absl::Span<const nfr_flow_value>)>;
  virtual absl::Status DumpFlows(FlowChunkFn fn) const = 0;
  // Writes values[i] for keys[i] as given (expires_ns absolute).
  virtual absl::Status UpdateFlows(absl::Span<const nfr_flow_key> keys,
                                   absl::Span<const nfr_flow_value> values) = 0;
  virtual absl::Status DeleteFlows(absl::Span<const nfr_flow_key> keys) = 0;  // absent is OK
};

}  // namespace nfr
