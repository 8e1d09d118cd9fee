// libFuzzer target: the agent's configuration loader (JSON text), defaults and validation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/config/config_defaults.h"
#include "agent/config/config_loader.h"
#include "agent/config/config_validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = nfr::ParseConfigJson(absl::string_view(reinterpret_cast<const char*>(data), size),
                                     "fuzz.json");
  if (!config.ok()) return 0;
  nfr::ApplyDefaults(*config);
  if (nfr::ValidateConfig(*config).ok()) (void)nfr::ConfigToJson(*config);
  return 0;
}
