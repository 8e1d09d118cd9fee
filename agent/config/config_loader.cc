#include "agent/config/config_loader.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace nfr {

absl::StatusOr<nfr::v1::AgentConfig> ParseConfigJson(absl::string_view json,
                                                     absl::string_view source) {
  nfr::v1::AgentConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a valid nfr.v1.AgentConfig: ", std::string(status.message()),
        "; fix the JSON (field names and enum values are listed in proto/nfr/v1/config.proto; "
        "nfr-agent --print_default_config prints a complete example)"));
  }
  return config;
}

absl::StatusOr<nfr::v1::AgentConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    const std::string what = absl::StrCat("config file ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, "; check the --config path"));
    if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(what, "; make it readable by the agent"));
    }
    return absl::InvalidArgumentError(what);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfigJson(text.str(), absl::StrCat("config file ", path));
}

std::string ConfigToJson(const nfr::v1::AgentConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(config, &out, options);
  return out;
}

}  // namespace nfr
