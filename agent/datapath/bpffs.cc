#include "agent/datapath/bpffs.h"

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nfr_abi.h"

namespace nfr::datapath {
namespace {

constexpr const char* kMapNames[] = {NFR_MAP_CONFIG, NFR_MAP_FLOWS,     NFR_MAP_SEL_V4,
                                     NFR_MAP_SEL_V6, NFR_MAP_SEL_PROTO, NFR_MAP_SEL_PORTS,
                                     NFR_MAP_IFACES, NFR_MAP_STATS,     NFR_MAP_BUDGET,
                                     NFR_MAP_IFIDX};
constexpr const char* kBpffsRoot = "/sys/fs/bpf";

bool IsBpffs(const std::string& path) {
  struct statfs st;
  // f_type is an int on 32-bit ARM and the magic does not fit one: compare the 32 bits.
  return statfs(path.c_str(), &st) == 0 && static_cast<uint32_t>(st.f_type) == BPF_FS_MAGIC;
}

std::string RootHint(int e) { return e == EPERM || e == EACCES ? "; run nfr-agent as root" : ""; }

}  // namespace

absl::Status EnsurePinDir(const std::string& pin_dir) {
  if (pin_dir.empty() || pin_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "bpf_pin_dir '", pin_dir, "' must be an absolute path on bpffs, e.g. /sys/fs/bpf/nfr"));
  }
  std::string parent = pin_dir.substr(0, pin_dir.find_last_of('/'));
  if (parent.empty()) parent = "/";
  if (!IsBpffs(parent) && (parent == kBpffsRoot || absl::StartsWith(parent, "/sys/fs/bpf/")) &&
      !IsBpffs(kBpffsRoot)) {
    if (mount("bpf", kBpffsRoot, "bpf", 0, "mode=0700") != 0) {
      int e = errno;
      return absl::FailedPreconditionError(
          absl::StrCat("/sys/fs/bpf is not a bpf filesystem and mounting one failed: ", strerror(e),
                       RootHint(e), "; or mount it yourself: mount -t bpf bpf /sys/fs/bpf"));
    }
  }
  if (mkdir(pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    int e = errno;
    return absl::FailedPreconditionError(absl::StrCat("cannot create BPF pin dir ", pin_dir, ": ",
                                                      strerror(e), RootHint(e),
                                                      e == ENOENT ? "; create its parent" : ""));
  }
  if (!IsBpffs(pin_dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("BPF pin dir ", pin_dir,
                     " is not on a bpf filesystem; use a directory under /sys/fs/bpf or mount "
                     "bpffs: mount -t bpf bpf <dir>"));
  }
  return absl::OkStatus();
}

absl::Status RemoveStalePins(const std::string& pin_dir) {
  for (const char* name : kMapNames) {
    std::string p = absl::StrCat(pin_dir, "/", name);
    if (unlink(p.c_str()) != 0 && errno != ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot remove stale pin ", p, ": ", strerror(errno), RootHint(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status PinMaps(bpf_object* obj, const std::string& pin_dir) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    std::string p = absl::StrCat(pin_dir, "/", bpf_map__name(map));
    int err = bpf_map__pin(map, p.c_str());
    if (err) {
      return absl::FailedPreconditionError(
          absl::StrCat("pinning BPF map at ", p, " failed: ", strerror(-err), RootHint(-err)));
    }
  }
  return absl::OkStatus();
}

void UnpinMaps(const std::string& pin_dir) {
  for (const char* name : kMapNames) unlink(absl::StrCat(pin_dir, "/", name).c_str());
  rmdir(pin_dir.c_str());
}

}  // namespace nfr::datapath
