#include "agent/datapath/kmod.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/datapath/exec.h"

namespace nfr::datapath {

bool KmodLoaded() { return access("/sys/module/nfr_redirect", F_OK) == 0; }

absl::Status EnsureKmodLoaded(const KmodParams& p) {
  if (KmodLoaded()) return absl::OkStatus();
  std::vector<std::string> argv = {"modprobe",
                                   "nfr_redirect",
                                   absl::StrCat("queue_ingress=", p.queue_num),
                                   absl::StrCat("queue_egress=", p.queue_num),
                                   absl::StrCat("queue_count=", p.queue_count),
                                   absl::StrCat("fail_closed=", p.fail_closed ? 1 : 0)};
  auto r = RunCommand(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0 || !KmodLoaded()) {
    return absl::FailedPreconditionError(
        absl::StrCat("native mode needs kernel module nfr_redirect; `", JoinArgv(argv),
                     "` failed: ", absl::StripAsciiWhitespace(r->err),
                     "; build and install it (make -C kmod install), or "
                     "run with --mode=compat"));
  }
  return absl::OkStatus();
}

}  // namespace nfr::datapath
