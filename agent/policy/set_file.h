// The set import file of `nfrctl set import FILE`: one prefix per line, `#`
// starts a comment, blank lines are skipped.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nfr {

// The prefixes in canonical form, in file order. INVALID_ARGUMENT names the
// line: `FILE:LINE: "10.0.0.1/8" has host bits set; use 10.0.0.0/8`.
absl::StatusOr<std::vector<std::string>> ParseSetFile(absl::string_view contents,
                                                      absl::string_view file_name);

}  // namespace nfr
