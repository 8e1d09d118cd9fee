// The agent's stderr log: one line per event, written atomically.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace nfr {

void LogLine(absl::string_view line);

}  // namespace nfr
