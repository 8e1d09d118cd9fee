#include "agent/config/config_loader.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/type.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

namespace pbu = google::protobuf::util;
constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// protobuf 3.21's JSON parser resolves every message type it meets from the descriptors again on
// each call (building google.protobuf.Type protos); for AgentConfig that was most of the parse.
// This resolver keeps each resolved type, so a call only copies it.
class CachingTypeResolver : public pbu::TypeResolver {
 public:
  CachingTypeResolver()
      : inner_(pbu::NewTypeResolverForDescriptorPool(
            kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool())) {}
  pbu::Status ResolveMessageType(const std::string& url, google::protobuf::Type* type) override {
    return Resolve(url, type, messages_, &pbu::TypeResolver::ResolveMessageType);
  }
  pbu::Status ResolveEnumType(const std::string& url, google::protobuf::Enum* type) override {
    return Resolve(url, type, enums_, &pbu::TypeResolver::ResolveEnumType);
  }

 private:
  template <typename T>
  pbu::Status Resolve(const std::string& url, T* out, std::map<std::string, T>& cache,
                      pbu::Status (pbu::TypeResolver::*resolve)(const std::string&, T*)) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache.find(url);
    if (it == cache.end()) {
      T resolved;
      pbu::Status s = (inner_.get()->*resolve)(url, &resolved);
      if (!s.ok()) return s;
      it = cache.emplace(url, std::move(resolved)).first;
    }
    out->CopyFrom(it->second);
    return pbu::OkStatus();
  }

  std::unique_ptr<pbu::TypeResolver> inner_;
  std::mutex mu_;
  std::map<std::string, google::protobuf::Type> messages_;
  std::map<std::string, google::protobuf::Enum> enums_;
};

pbu::TypeResolver* Resolver() {
  static CachingTypeResolver* resolver = new CachingTypeResolver();
  return resolver;
}

}  // namespace

absl::StatusOr<nfr::v1::AgentConfig> ParseConfigJson(absl::string_view json,
                                                     absl::string_view source) {
  nfr::v1::AgentConfig config;
  pbu::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  std::string binary;
  auto status = pbu::JsonToBinaryString(
      Resolver(), absl::StrCat(kTypeUrlPrefix, "/", config.GetDescriptor()->full_name()),
      google::protobuf::StringPiece(json.data(), json.size()), &binary, options);
  if (status.ok() && !config.ParseFromString(binary)) {
    status = pbu::Status(pbu::StatusCode::kInvalidArgument,
                         "JSON transcoder produced invalid protobuf output");
  }
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
