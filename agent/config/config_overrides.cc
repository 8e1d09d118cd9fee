#include "agent/config/config_overrides.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nfr {

absl::Status ApplyOverrides(const ConfigOverrides& o, nfr::v1::AgentConfig& c) {
  if (o.interfaces) {
    c.clear_interfaces();
    for (absl::string_view item : absl::StrSplit(*o.interfaces, ',', absl::SkipWhitespace())) {
      item = absl::StripAsciiWhitespace(item);
      auto* iface = c.add_interfaces();
      absl::string_view name = item;
      if (absl::ConsumeSuffix(&name, ":egress")) iface->set_egress(true);
      if (name.empty() || name.find(':') != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("--interfaces: \"", item,
                         "\" is not NAME or NAME:egress; e.g. --interfaces=eth0,eth1:egress"));
      }
      iface->set_name(std::string(name));
    }
  }
  if (o.mode) {
    if (*o.mode == "auto") {
      c.set_mode(nfr::v1::MODE_AUTO);
    } else if (*o.mode == "native") {
      c.set_mode(nfr::v1::MODE_NATIVE);
    } else if (*o.mode == "compat") {
      c.set_mode(nfr::v1::MODE_COMPAT);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--mode: \"", *o.mode, "\" is not a mode; use auto, native or compat"));
    }
  }
  if (o.pin_dir) c.set_bpf_pin_dir(*o.pin_dir);
  if (o.api_socket) c.mutable_api()->set_unix_socket(*o.api_socket);
  if (o.db) c.mutable_store()->set_db_path(*o.db);
  if (o.queue_num) {
    if (*o.queue_num > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--queue_num: ", *o.queue_num, " is not a queue number; use 0..65535"));
    }
    c.mutable_queue()->set_num(*o.queue_num);
  }
  return absl::OkStatus();
}

}  // namespace nfr
