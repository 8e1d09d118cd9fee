// Policy-history retention bounds (StoreConfig fields 4 and 5): shared by the config defaults and
// the store, which applies them when a config left them 0.
#pragma once

#include <cstdint>

namespace nfr {

inline constexpr uint32_t kDefaultMaxPolicyVersions = 1000;
inline constexpr uint32_t kDefaultMaxPolicyHistoryMib = 256;
inline constexpr uint32_t kMaxPolicyVersionsLimit = 1000000;
inline constexpr uint32_t kMaxPolicyHistoryMibLimit = 1048576;  // 1 TiB

}  // namespace nfr
