// Validation of nfr.v1.Policy (config file and PolicyService): every error is
// INVALID_ARGUMENT naming the field path and the fix. Limits are documented here.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

inline constexpr int kMaxRules = 131072;
inline constexpr int kMaxPrefixesPerRule = 256;  // more: put them in a set
inline constexpr int kMaxPortRangesPerRule = 64;
inline constexpr int kMaxRuleIdLength = 64;  // also the longest set name
inline constexpr int kMaxSets = 64;
inline constexpr int kMaxSetPrefixes = 1 << 20;       // one set
inline constexpr int kMaxSetPrefixesTotal = 1 << 21;  // all sets of a policy
inline constexpr int kMaxSetPortRanges = 4096;
inline constexpr int kMaxCommentLength = 256;
inline constexpr int kMaxInterfaceNameLength = 15;  // IFNAMSIZ - 1
inline constexpr uint32_t kMaxTtlSeconds = 7 * 24 * 3600;
inline constexpr uint32_t kMaxPendingTimeoutMs = 10 * 60 * 1000;
inline constexpr uint32_t kDefaultPendingTimeoutMs = 5000;
inline constexpr uint32_t kDefaultFlowTtlSeconds = 300;

// `field_prefix` is prepended to field paths, e.g. "policy." in the config file.
absl::Status ValidatePolicy(const nfr::v1::Policy& policy, absl::string_view field_prefix = "");
// One rule on its own; references to sets are checked by ValidatePolicy.
absl::Status ValidateRule(const nfr::v1::Rule& rule, absl::string_view field_path);
// One set: `field_path` is e.g. `sets["blocklist"]`.
absl::Status ValidateSet(absl::string_view name, const nfr::v1::Set& set,
                         absl::string_view field_path);

// Interface names as the kernel accepts them (1..15 bytes, no '/', ':' or space).
bool IsValidInterfaceName(absl::string_view name);

}  // namespace nfr
