// Changes one named set (prefixes or ports) of a policy by delta, for UpdateSet and `nfrctl set
// add|rm|import`, without resending the policy. Pure: the caller bumps the
// version, compiles and commits the result like any policy change.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

struct SetDeltaResult {
  int added = 0;            // new prefixes
  int already_present = 0;  // in `add` but already in the set (or repeated in `add`)
  int removed = 0;          // prefixes taken out
  int absent = 0;           // in `remove` but not in the set
  int size = 0;             // prefixes in the set afterwards
};

// Removes `remove`, then adds `add` (a prefix in both ends up in the set).
// Prefixes are compared after parsing ("10.0.0.1" == "10.0.0.1/32"); added
// ones are stored in canonical form. On error `policy` is unchanged:
// NOT_FOUND for an unknown set (sets are created by applying a policy),
// FAILED_PRECONDITION for a port set, INVALID_ARGUMENT naming `add[i]` or
// `remove[i]` for a bad prefix, or when the set would exceed kMaxSetPrefixes.
absl::StatusOr<SetDeltaResult> ApplySetDelta(nfr::v1::Policy& policy, absl::string_view set_name,
                                             absl::Span<const std::string> add,
                                             absl::Span<const std::string> remove);

// The same for a port set: ranges compare exactly after "last = 0 means
// first"; FAILED_PRECONDITION for a prefix set, INVALID_ARGUMENT naming
// `add_ports[i]` / `remove_ports[i]` for a bad range or over kMaxSetPortRanges.
absl::StatusOr<SetDeltaResult> ApplyPortSetDelta(nfr::v1::Policy& policy,
                                                 absl::string_view set_name,
                                                 absl::Span<const nfr::v1::PortRange> add,
                                                 absl::Span<const nfr::v1::PortRange> remove);

}  // namespace nfr
