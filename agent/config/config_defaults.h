// Defaults for every unset field of nfr.v1.AgentConfig and the embedded
// configuration nfr-agent uses when no --config is given.
#pragma once

#include "absl/strings/string_view.h"
#include "agent/store/retention.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

inline constexpr uint32_t kDefaultQueueNum = 4200;
inline constexpr uint32_t kDefaultQueueMaxLen = 4096;
inline constexpr uint32_t kDefaultSocketBufferBytes = 8u << 20;
inline constexpr uint32_t kDefaultCompatMark = 0x01000000;
inline constexpr uint32_t kDefaultPendingMaxFlows = 4096;
inline constexpr uint32_t kDefaultPendingMaxPacketsPerFlow = 32;
inline constexpr char kDefaultPinDir[] = "/sys/fs/bpf/nfr";
inline constexpr char kDefaultApiSocketPath[] = "/run/nfr/agent.sock";
inline constexpr char kDefaultSocketGroup[] = "nfr";
inline constexpr char kDefaultDbPath[] = "/var/lib/nfr/state.db";
inline constexpr uint32_t kDefaultMaxDecisions = 100000;
inline constexpr uint32_t kDefaultMaxDecisionAgeDays = 30;
inline constexpr uint32_t kDefaultFlowCacheEntries = 65536;
inline constexpr uint32_t kDefaultDecisionRecordsPerSecond = 1000;
inline constexpr uint32_t kMaxDecisionRecordsPerSecond = 100000;
inline constexpr uint32_t kDefaultNewFlowRate = 1000;      // per source and second
inline constexpr uint32_t kDefaultNewFlowBurstFactor = 2;  // burst = 2 x rate
// api.limits (docs/security.md "Limits").
inline constexpr uint32_t kDefaultMaxMessageBytes = 80u << 20;  // a 1M-prefix set fits
inline constexpr uint32_t kDefaultMaxPolicyBytes = 64u << 20;
inline constexpr uint32_t kDefaultMaxConnections = 512;
inline constexpr uint32_t kDefaultMaxConnectionsPerPeer = 64;
inline constexpr uint32_t kDefaultHandshakeTimeoutMs = 10000;
inline constexpr uint32_t kDefaultIdleTimeoutMs = 300000;
inline constexpr uint32_t kDefaultMaxStreams = 256;
inline constexpr uint32_t kDefaultMaxStreamsPerPeer = 16;
inline constexpr uint32_t kDefaultSnapshotMax = 1024;  // = the per-watcher queue
inline constexpr uint32_t kDefaultChangesPerSecond = 200;

// The embedded configuration as JSON (see config_defaults.cc for what it does).
absl::string_view EmbeddedDefaultConfigJson();
// The embedded configuration with defaults applied.
nfr::v1::AgentConfig DefaultConfig();

// Fills every unset field with its default. A config without a `policy`
// object gets the embedded example policy.
void ApplyDefaults(nfr::v1::AgentConfig& config);
// The api.limits part of ApplyDefaults.
void ApplyApiLimitDefaults(nfr::v1::ApiLimitsConfig& limits);

}  // namespace nfr
