// Request checks for the API beyond the policy schema: every failure is
// INVALID_ARGUMENT naming the request field and the fix.
#pragma once

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/store/ip_range.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

inline constexpr size_t kMaxPolicyBytes = 1 << 20;
inline constexpr size_t kMaxReasonBytes = 512;

// Schema and limits (agent/policy/policy_validation.h) plus the serialized
// size limit. `field` is the request field holding the policy.
absl::Status ValidatePolicyForApi(const nfr::v1::Policy& policy, absl::string_view field);

// Empty text -> nullopt (match all).
absl::StatusOr<std::optional<AddrRange>> ParseFilterPrefix(absl::string_view text,
                                                           absl::string_view field);

absl::Status CheckProtocol(int value, absl::string_view field);
absl::Status CheckVerdict(int value, absl::string_view field, bool allow_unspecified);

}  // namespace nfr
