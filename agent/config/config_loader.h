// Reads the agent configuration file (JSON in protobuf's JSON mapping of
// nfr.v1.AgentConfig) and prints a configuration back as JSON.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

// Parses only (no defaults, no validation). Unknown fields are errors.
// `source` names the input in messages (a path or "embedded default").
absl::StatusOr<nfr::v1::AgentConfig> ParseConfigJson(absl::string_view json,
                                                     absl::string_view source);
// Reads and parses `path`; NOT_FOUND / PERMISSION_DENIED name the path.
absl::StatusOr<nfr::v1::AgentConfig> LoadConfigFile(const std::string& path);

// Every field, proto field names, indented.
std::string ConfigToJson(const nfr::v1::AgentConfig& config);

}  // namespace nfr
