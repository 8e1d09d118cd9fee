// Command-line overrides of the configuration (nfr-agent flags), applied
// after the file or embedded defaults and before validation.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

struct ConfigOverrides {
  std::optional<std::string> interfaces;  // "a,b:egress"
  std::optional<std::string> mode;        // auto|native|compat
  std::optional<std::string> pin_dir;
  std::optional<std::string> api_socket;
  std::optional<std::string> db;
  std::optional<uint32_t> queue_num;
};

// INVALID_ARGUMENT naming the flag and the fix.
absl::Status ApplyOverrides(const ConfigOverrides& overrides, nfr::v1::AgentConfig& config);

}  // namespace nfr
