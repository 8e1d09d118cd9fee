// Request-shape checks of the list/watch filters: every failure is
// INVALID_ARGUMENT naming the request field and the fix.
#pragma once

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/core/flow_filter.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

// Empty text -> nullopt (match all).
absl::StatusOr<std::optional<AddrRange>> ParseFilterPrefix(absl::string_view text,
                                                           absl::string_view field);

absl::Status CheckProtocol(int value, absl::string_view field);
absl::Status CheckVerdict(int value, absl::string_view field, bool allow_unspecified);

}  // namespace nfr
