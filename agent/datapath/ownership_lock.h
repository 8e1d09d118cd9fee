// Exclusive ownership of a BPF pin directory: an flock()ed file under /run/nfr/ holding the
// owner's pid. The kernel drops the lock when the owner dies, so a crashed agent never blocks.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace nfr::datapath {

class OwnershipLock {
 public:
  // FAILED_PRECONDITION naming the holder's pid when another live process owns pin_dir.
  static absl::StatusOr<std::unique_ptr<OwnershipLock>> Acquire(const std::string& pin_dir,
                                                                const std::string& run_dir);
  ~OwnershipLock();
  OwnershipLock(const OwnershipLock&) = delete;
  OwnershipLock& operator=(const OwnershipLock&) = delete;

  const std::string& path() const { return path_; }
  // Sibling file for crash-recovery state, keyed like the lock.
  const std::string& state_path() const { return state_path_; }

 private:
  OwnershipLock(int fd, std::string path, std::string state_path)
      : fd_(fd), path_(std::move(path)), state_path_(std::move(state_path)) {}
  int fd_;
  std::string path_;
  std::string state_path_;
};

// "/sys/fs/bpf/nfr" -> "sys_fs_bpf_nfr": file-name key for a pin directory.
std::string PinDirKey(const std::string& pin_dir);

}  // namespace nfr::datapath
