// Writes nfr::v1::SelectionConfig into the selection maps (protocols, destination ports, v4/v6
// prefix tries) and the matching NFR_CFG_* flags, diffing against what it wrote before so
// updates touch only changed entries.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nfr/v1/config.pb.h"

namespace nfr::datapath {

struct SelectionMapFds {
  int sel_proto = -1;
  int sel_ports = -1;
  int sel_v4 = -1;
  int sel_v6 = -1;
};

// Compiled selection: what the maps should hold.
struct CompiledSelection {
  std::array<bool, 256> protocols{};
  std::set<uint16_t> ports;                                   // empty = no port filter
  std::set<std::pair<uint32_t, uint32_t>> v4;                 // (prefixlen, addr be)
  std::set<std::pair<uint32_t, std::array<uint32_t, 4>>> v6;  // (prefixlen, addr be)
  bool prefix_filter = false;
  uint32_t flags() const;  // NFR_CFG_PORT_FILTER | NFR_CFG_V4/V6_PREFIX_FILTER
};

// INVALID_ARGUMENT naming the field (selection.prefixes[2] ...) on bad input.
absl::StatusOr<CompiledSelection> CompileSelection(const nfr::v1::SelectionConfig& selection);

class SelectionWriter {
 public:
  explicit SelectionWriter(SelectionMapFds fds) : fds_(fds) {}
  // Adds new entries, then removes stale ones. Caller updates nfr_config flags in between
  // (flags() of the new selection) so the filter never runs on a half-written set.
  absl::Status AddEntries(const CompiledSelection& next);
  absl::Status RemoveStale(const CompiledSelection& next);
  void Commit(CompiledSelection next) { current_ = std::move(next); }

 private:
  SelectionMapFds fds_;
  CompiledSelection current_;
};

}  // namespace nfr::datapath
