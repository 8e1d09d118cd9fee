#include "agent/util/log.h"

#include <unistd.h>

#include <string>

namespace nfr {

void LogLine(absl::string_view line) {
  std::string out(line);
  out.push_back('\n');
  // One write(2) per line: lines from different threads never interleave.
  (void)!write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace nfr
