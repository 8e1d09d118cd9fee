// Checks a configuration (defaults already applied) for syntax and ranges.
// INVALID_ARGUMENT naming the field and the fix. Interface existence is
// checked by the datapath when it attaches.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

inline constexpr uint32_t kMaxQueueCount = 64;
inline constexpr uint32_t kMaxQueueMaxLen = 1u << 20;
inline constexpr uint32_t kMinSocketBufferBytes = 64u << 10;
inline constexpr uint32_t kMaxSocketBufferBytes = 1u << 30;
inline constexpr uint32_t kMaxPendingFlows = 1u << 20;
inline constexpr uint32_t kMaxPendingPacketsPerFlow = 1024;
inline constexpr uint32_t kMaxFlowCacheEntries = 1u << 22;
inline constexpr uint32_t kMaxNewFlowRate = 1000000;
inline constexpr uint32_t kMaxNewFlowBurst = 1000000;

absl::Status ValidateConfig(const nfr::v1::AgentConfig& config);

// The port of a listen address ("host:port", "[v6]:port"), or 0 when it has none.
uint16_t ListenPort(absl::string_view host_port);

}  // namespace nfr
