// The kernel-side cap on connections to the API's TCP port. gRPC 1.51's TCP listener has no
// connection limit (and does not recover from EMFILE), so the agent adds netfilter rules that reset
// a new connection over `per_peer` from one source (an IPv4 address, an IPv6 /64: one host's
// usual allocation) or over `total` in all:
// nftables `ct count` in table inet nfr_agent_api_<pid>, else iptables/ip6tables connlimit in
// filter INPUT commented nfr-agent-api:<pid>. The pid keeps one agent's removal from taking a
// newer agent's rules during a restart; rules of agents no longer running are removed at start.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nfr/v1/config.pb.h"

namespace nfr::datapath {

struct TcpCapSpec {
  uint16_t port = 0;
  uint32_t per_peer = 64;
  uint32_t total = 512;
  pid_t owner = 0;  // 0: this process
};

inline constexpr const char* kTcpCapNftTablePrefix = "nfr_agent_api_";
inline constexpr const char* kTcpCapCommentPrefix = "nfr-agent-api:";

class TcpConnectionCap {
 public:
  // AUTO tries nftables, then each iptables flavour; NFTABLES/IPTABLES only that one. Rules of
  // other owners that are no longer running go once this one is in. OFF is the caller's business.
  static absl::StatusOr<std::unique_ptr<TcpConnectionCap>> Install(
      const TcpCapSpec& spec, nfr::v1::TcpConnectionCap backend);
  ~TcpConnectionCap();  // removes the rules
  TcpConnectionCap(const TcpConnectionCap&) = delete;
  TcpConnectionCap& operator=(const TcpConnectionCap&) = delete;

  // "nftables", "iptables-nft" or "iptables-legacy".
  const std::string& backend() const { return backend_; }
  // For status: "nftables: 64 per source (IPv4 address or IPv6 /64), 512 in all, port 50051".
  std::string Describe() const;
  // New connections the rules have reset (their packet counters: one SYN each), read from the
  // kernel at most once a second; the last value read when the rules cannot be listed.
  uint64_t Resets() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TcpConnectionCap(std::string backend, TcpCapSpec spec, std::vector<std::vector<std::string>> undo)
      : backend_(std::move(backend)), spec_(spec), undo_(std::move(undo)) {}
  absl::StatusOr<uint64_t> ReadResets() const;
  std::string backend_;
  TcpCapSpec spec_;
  std::vector<std::vector<std::string>> undo_;  // argvs that delete what we added
  absl::Mutex mu_;
  absl::Time resets_read_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t resets_ ABSL_GUARDED_BY(mu_) = 0;
};

// The sum of "counter packets N" in `nft list table` output.
uint64_t SumNftCounterPackets(absl::string_view listing);
// The sum of the packet column of `iptables -L -v -x -n` lines carrying comment `comment`.
uint64_t SumIptablesCommentPackets(absl::string_view listing, absl::string_view comment);

// Removes cap rules whose owner process is gone (a crashed agent's); returns how many went.
int RemoveOrphanedTcpCaps(pid_t self);

// argv building blocks, exposed for tests.
std::vector<std::string> TcpCapIptablesArgs(const TcpCapSpec& spec, bool v6, bool per_peer);
std::vector<std::vector<std::string>> TcpCapNftCommands(const TcpCapSpec& spec);

}  // namespace nfr::datapath
