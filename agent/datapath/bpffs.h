// The BPF filesystem under the pin directory: mount it if missing, create the pin dir, pin and
// unpin the program's maps by their ABI names (nfr_abi.h).
#pragma once

#include <string>

#include "absl/status/status.h"

struct bpf_object;

namespace nfr::datapath {

// Ensures pin_dir exists on a bpf filesystem, mounting bpffs on /sys/fs/bpf when pin_dir lives
// there and nothing is mounted yet.
absl::Status EnsurePinDir(const std::string& pin_dir);

// Removes pin files of our maps left in pin_dir (crashed agent). Other files are kept.
absl::Status RemoveStalePins(const std::string& pin_dir);

// Pins every map of obj as pin_dir/<map name>.
absl::Status PinMaps(bpf_object* obj, const std::string& pin_dir);

// Unlinks our pin files and the pin dir if it is then empty.
void UnpinMaps(const std::string& pin_dir);

}  // namespace nfr::datapath
