#include "agent/queue/kernel_queue_stats.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace nfr {

std::optional<KernelQueueStats> ParseKernelQueueStats(absl::string_view proc_text, uint16_t num) {
  // queue_num peer_portid queue_total copy_mode copy_range queue_dropped user_dropped
  // id_sequence 1
  for (absl::string_view line : absl::StrSplit(proc_text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    uint32_t q = 0;
    if (f.size() < 8 || !absl::SimpleAtoi(f[0], &q) || q != num) continue;
    KernelQueueStats s;
    if (!absl::SimpleAtoi(f[2], &s.waiting) || !absl::SimpleAtoi(f[5], &s.queue_dropped) ||
        !absl::SimpleAtoi(f[6], &s.user_dropped) || !absl::SimpleAtoi(f[7], &s.id_sequence)) {
      return std::nullopt;
    }
    return s;
  }
  return std::nullopt;
}

std::optional<KernelQueueStats> ReadKernelQueueStats(uint16_t num) {
  std::ifstream in("/proc/net/netfilter/nfnetlink_queue");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return ParseKernelQueueStats(text.str(), num);
}

}  // namespace nfr
