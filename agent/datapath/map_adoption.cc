#include "agent/datapath/map_adoption.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/util/log.h"
#include "nfr_abi.h"

namespace nfr::datapath {
namespace {

// Why the pinned map at fd cannot stand in for want ("" when it can).
std::string Mismatch(const bpf_map* want, int fd) {
  bpf_map_info info = {};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    return absl::StrCat("reading its info failed: ", strerror(errno));
  }
  if (info.type != static_cast<uint32_t>(bpf_map__type(want))) {
    return absl::StrCat("it has map type ", info.type, ", this agent needs ", bpf_map__type(want));
  }
  if (info.key_size != bpf_map__key_size(want) || info.value_size != bpf_map__value_size(want)) {
    return absl::StrCat("its key/value sizes are ", info.key_size, "/", info.value_size,
                        ", this agent needs ", bpf_map__key_size(want), "/",
                        bpf_map__value_size(want));
  }
  if (info.max_entries != bpf_map__max_entries(want)) {
    return absl::StrCat("it holds up to ", info.max_entries,
                        " entries, this agent is configured for ", bpf_map__max_entries(want));
  }
  if (info.map_flags != bpf_map__map_flags(want)) {
    return absl::StrCat("its flags are 0x", absl::Hex(info.map_flags), ", this agent needs 0x",
                        absl::Hex(bpf_map__map_flags(want)));
  }
  return "";
}

}  // namespace

PreviousMaps PreviousMaps::Open(const std::string& pin_dir) {
  PreviousMaps out;
  const std::string config_path = absl::StrCat(pin_dir, "/", NFR_MAP_CONFIG);
  int cfg_fd = bpf_obj_get(config_path.c_str());
  if (cfg_fd < 0) return out;  // nothing pinned: a first start
  bpf_map_info info = {};
  uint32_t len = sizeof(info);
  uint32_t version = 0;
  if (bpf_obj_get_info_by_fd(cfg_fd, &info, &len) == 0 && info.value_size == sizeof(nfr_config)) {
    nfr_config c = {};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(cfg_fd, &zero, &c) == 0) version = c.layout_version;
  }
  close(cfg_fd);
  if (version != NFR_MAP_LAYOUT_VERSION) {
    LogLine(absl::StrCat("nfr-agent: maps pinned in ", pin_dir, " have ",
                         version ? absl::StrCat("layout version ", version)
                                 : std::string("no layout version (an older agent)"),
                         ", this agent uses ", NFR_MAP_LAYOUT_VERSION,
                         ": recreating them; flows cached by the previous agent will be asked "
                         "again"));
    return out;
  }
  for (const char* name : kAdoptableMaps) {
    int fd = bpf_obj_get(absl::StrCat(pin_dir, "/", name).c_str());
    if (fd >= 0) out.fds_[name] = fd;
  }
  return out;
}

PreviousMaps::PreviousMaps(PreviousMaps&& other) noexcept
    : fds_(std::move(other.fds_)), adopted_(std::move(other.adopted_)) {
  other.fds_.clear();
}

PreviousMaps& PreviousMaps::operator=(PreviousMaps&& other) noexcept {
  if (this != &other) {
    CloseAll();
    fds_ = std::move(other.fds_);
    adopted_ = std::move(other.adopted_);
    other.fds_.clear();
  }
  return *this;
}

PreviousMaps::~PreviousMaps() { CloseAll(); }

void PreviousMaps::CloseAll() {
  for (auto& [_, fd] : fds_) close(fd);
  fds_.clear();
}

void PreviousMaps::AdoptInto(bpf_object* obj) {
  for (auto& [name, fd] : fds_) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name.c_str());
    if (map == nullptr) continue;
    std::string why = Mismatch(map, fd);
    if (why.empty()) {
      int err = bpf_map__reuse_fd(map, fd);  // dups fd
      if (err == 0) {
        adopted_.push_back(name);
        continue;
      }
      why = absl::StrCat("reusing it failed: ", strerror(-err));
    }
    LogLine(absl::StrCat("nfr-agent: pinned ", name, " of the previous agent not adopted (", why,
                         "): recreating it",
                         name == NFR_MAP_FLOWS ? "; its cached flows will be asked again" : ""));
  }
  CloseAll();
  if (!adopted_.empty()) {
    LogLine(absl::StrCat("nfr-agent: adopted pinned maps of the previous agent (layout version ",
                         NFR_MAP_LAYOUT_VERSION, "): ", absl::StrJoin(adopted_, ", ")));
  }
}

}  // namespace nfr::datapath
