// Runs a helper binary (iptables, nft, modprobe) by fork+exec with an argv, never a shell,
// capturing its output so failures can be reported verbatim.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nfr::datapath {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Looks argv[0] up in the sbin/bin directories unless it contains '/'.
// Errors only when the program cannot be found or started.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv);

// True when argv[0] resolves to an executable file.
bool CommandExists(const std::string& name);

// "iptables -t mangle ..." for messages.
std::string JoinArgv(const std::vector<std::string>& argv);

}  // namespace nfr::datapath
