#include "tests/bpf/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/datapath/exec.h"

namespace nfr::test {

std::unique_ptr<ScopedNetns> ScopedNetns::Enter(std::string* error) {
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::string("open /proc/self/ns/net: ") + strerror(errno);
    return nullptr;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    *error = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
    close(fd);
    return nullptr;
  }
  Cmd({"ip", "link", "set", "lo", "up"});
  return std::unique_ptr<ScopedNetns>(new ScopedNetns(fd));
}

ScopedNetns::~ScopedNetns() {
  if (setns(orig_fd_, CLONE_NEWNET) != 0) abort();
  close(orig_fd_);
}

int Cmd(const std::vector<std::string>& argv, std::string* out) {
  auto r = datapath::RunCommand(argv);
  if (!r.ok()) {
    if (out) *out += std::string(r.status().message());
    return -1;
  }
  if (out) *out += r->out + r->err;
  return r->exit_code;
}

}  // namespace nfr::test
