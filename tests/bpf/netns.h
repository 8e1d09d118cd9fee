// Throwaway network namespaces for datapath tests: the calling thread moves into a fresh netns
// (veth pairs, iptables rules and tc filters die with it) and returns on destruction.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace nfr::test {

class ScopedNetns {
 public:
  // nullptr + *error when unshare/setns fails (not root).
  static std::unique_ptr<ScopedNetns> Enter(std::string* error);
  ~ScopedNetns();

 private:
  explicit ScopedNetns(int orig_fd) : orig_fd_(orig_fd) {}
  int orig_fd_;
};

// Runs argv (no shell); returns the exit code, appends output to *out when given.
int Cmd(const std::vector<std::string>& argv, std::string* out = nullptr);

}  // namespace nfr::test
