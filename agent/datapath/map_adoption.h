// Restart without amnesia: the maps a previous agent left pinned (flow cache, per-source budget,
// counters) are reused by the new program when the pinned nfr_config carries this build's
// NFR_MAP_LAYOUT_VERSION and each map's shape matches; otherwise they are recreated, with a log
// line saying why.
#pragma once

#include <map>
#include <string>
#include <vector>

struct bpf_object;

namespace nfr::datapath {

// The maps worth keeping across a restart; selection and interface maps are rewritten anyway.
inline constexpr const char* kAdoptableMaps[] = {"nfr_flows", "nfr_budget", "nfr_stats"};

class PreviousMaps {
 public:
  // Opens the adoptable maps pinned in pin_dir. Nothing pinned: empty, silent. Pinned with another
  // layout version: empty, logged.
  static PreviousMaps Open(const std::string& pin_dir);
  PreviousMaps() = default;
  PreviousMaps(PreviousMaps&& other) noexcept;
  PreviousMaps& operator=(PreviousMaps&& other) noexcept;
  PreviousMaps(const PreviousMaps&) = delete;
  PreviousMaps& operator=(const PreviousMaps&) = delete;
  ~PreviousMaps();

  // Between open and load of obj: makes each compatible map of obj reuse the pinned one; logs
  // what was adopted and what is recreated (and why).
  void AdoptInto(bpf_object* obj);
  const std::vector<std::string>& adopted() const { return adopted_; }

 private:
  void CloseAll();
  std::map<std::string, int> fds_;
  std::vector<std::string> adopted_;
};

}  // namespace nfr::datapath
