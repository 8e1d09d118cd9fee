#include "agent/datapath/kmod.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/datapath/exec.h"

namespace nfr::datapath {

bool KmodLoaded() { return access("/sys/module/nfr_redirect", F_OK) == 0; }

namespace {

std::string ReadParam(const char* name) {
  std::ifstream in(absl::StrCat("/sys/module/nfr_redirect/parameters/", name));
  std::string v;
  in >> v;
  return v;
}

// The module's queue numbers are fixed at load time; an agent on other queues would never see
// a packet (the queue bypass lets everything through), so a mismatch must stop the start.
absl::Status CheckLoadedParams(const KmodParams& p) {
  const std::string want_q = absl::StrCat(p.queue_num), want_n = absl::StrCat(p.queue_count);
  const std::string in = ReadParam("queue_ingress"), eg = ReadParam("queue_egress"),
                    n = ReadParam("queue_count");
  if (in == want_q && eg == want_q && n == want_n) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "kernel module nfr_redirect is loaded with queue_ingress=", in, " queue_egress=", eg,
      " queue_count=", n, " but this agent reads queues ", p.queue_num, "..",
      p.queue_num + p.queue_count - 1, "; set queue.num/queue.count to match, or unload it "
      "(rmmod nfr_redirect) so the agent loads it with its own parameters"));
}

}  // namespace

absl::Status EnsureKmodLoaded(const KmodParams& p) {
  if (KmodLoaded()) return CheckLoadedParams(p);
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
