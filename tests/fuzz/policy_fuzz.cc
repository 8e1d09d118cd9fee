// libFuzzer target: a policy from an API client or a config file, as JSON (first byte even) or
// binary protobuf (odd), is validated and, when valid, compiled; neither may crash, leak or take
// long (the limits in policy_validation.h bound the work).
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/policy/compiled_policy.h"
#include "agent/policy/policy_validation.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"

// Invalid UTF-8 in string fields is an ordinary parse failure; do not log each one.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  nfr::v1::Policy policy;
  const char* body = reinterpret_cast<const char*>(data + 1);
  if (data[0] % 2 == 0) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    if (!google::protobuf::util::JsonStringToMessage(std::string(body, size - 1), &policy, options)
             .ok()) {
      return 0;
    }
  } else if (!policy.ParseFromArray(body, static_cast<int>(size - 1))) {
    return 0;
  }
  for (const auto& rule : policy.rules()) (void)nfr::ValidateRule(rule, "rule");
  if (!nfr::ValidatePolicy(policy).ok()) return 0;
  auto compiled = nfr::CompiledPolicy::Compile(policy);
  if (!compiled.ok()) __builtin_trap();  // a validated policy must compile
  return 0;
}
