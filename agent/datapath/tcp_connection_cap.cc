#include "agent/datapath/tcp_connection_cap.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/datapath/exec.h"
#include "agent/datapath/xtables.h"

namespace nfr::datapath {
namespace {

pid_t Owner(const TcpCapSpec& spec) { return spec.owner != 0 ? spec.owner : getpid(); }

std::string NftTable(pid_t owner) { return absl::StrCat(kTcpCapNftTablePrefix, owner); }

std::string IptablesComment(pid_t owner) { return absl::StrCat(kTcpCapCommentPrefix, owner); }

bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

absl::StatusOr<std::vector<std::vector<std::string>>> InstallNft(const TcpCapSpec& spec) {
  if (!CommandExists("nft")) return absl::NotFoundError("nft not installed");
  std::vector<std::string> del = {"nft", "delete", "table", "inet", NftTable(Owner(spec))};
  (void)RunChecked(del);  // a table of a previous process with our pid
  for (const auto& cmd : TcpCapNftCommands(spec)) {
    if (auto st = RunChecked(cmd); !st.ok()) {
      (void)RunChecked(del);
      return st;
    }
  }
  return std::vector<std::vector<std::string>>{del};
}

absl::StatusOr<std::vector<std::vector<std::string>>> InstallIptables(const TcpCapSpec& spec,
                                                                      const std::string& flavour) {
  std::vector<std::vector<std::string>> undo;
  auto fail = [&](absl::Status st) {
    for (const auto& u : undo) (void)RunChecked(u);
    return st;
  };
  for (const bool v6 : {false, true}) {
    const std::string bin = v6 ? V6Binary(flavour) : flavour;
    if (!CommandExists(bin)) return fail(absl::NotFoundError(absl::StrCat(bin, " not installed")));
    // Inserted first: the total ends up behind the per-peer rule, both ahead of other rules.
    for (const bool per_peer : {false, true}) {
      std::vector<std::string> rule = TcpCapIptablesArgs(spec, v6, per_peer);
      std::vector<std::string> add = {bin, "-w", "5", "-I", "INPUT", "1"};
      add.insert(add.end(), rule.begin(), rule.end());
      if (auto st = RunChecked(add); !st.ok()) return fail(st);
      std::vector<std::string> del = {bin, "-w", "5", "-D", "INPUT"};
      del.insert(del.end(), rule.begin(), rule.end());
      undo.push_back(std::move(del));
    }
  }
  return undo;
}

// The owner pid in "nfr_agent_api_123" or "nfr-agent-api:123" after `prefix`, or 0.
pid_t OwnerAfter(absl::string_view s, absl::string_view prefix) {
  const size_t at = s.find(prefix);
  if (at == absl::string_view::npos) return 0;
  s.remove_prefix(at + prefix.size());
  size_t n = 0;
  while (n < s.size() && absl::ascii_isdigit(s[n])) ++n;
  int pid = 0;
  return absl::SimpleAtoi(s.substr(0, n), &pid) ? pid : 0;
}

}  // namespace

std::vector<std::vector<std::string>> TcpCapNftCommands(const TcpCapSpec& spec) {
  const std::string table = NftTable(Owner(spec));
  const std::string port = absl::StrCat(spec.port);
  auto rule = [&](std::vector<std::string> match) {
    std::vector<std::string> r = {"nft", "add",   "rule", "inet", table,   "input",
                                  "tcp", "dport", port,   "ct",   "state", "new"};
    r.insert(r.end(), match.begin(), match.end());
    r.insert(r.end(), {"counter", "reject", "with", "tcp", "reset"});
    return r;
  };
  const std::string n = absl::StrCat(spec.per_peer);
  return {
      {"nft", "add", "table", "inet", table},
      {"nft", "add", "chain", "inet", table, "input",
       "{ type filter hook input priority filter ; }"},
      rule({"meter", "peers4", "{", "ip", "saddr", "ct", "count", "over", n, "}"}),
      rule({"meter", "peers6", "{", "ip6", "saddr", "and", "ffff:ffff:ffff:ffff::", "ct", "count",
            "over", n, "}"}),
      rule({"ct", "count", "over", absl::StrCat(spec.total)}),
  };
}

std::vector<std::string> TcpCapIptablesArgs(const TcpCapSpec& spec, bool v6, bool per_peer) {
  return {"-p",
          "tcp",
          "--syn",
          "--dport",
          absl::StrCat(spec.port),
          "-m",
          "connlimit",
          "--connlimit-above",
          absl::StrCat(per_peer ? spec.per_peer : spec.total),
          "--connlimit-mask",
          per_peer ? (v6 ? "64" : "32") : "0",
          "-m",
          "comment",
          "--comment",
          IptablesComment(Owner(spec)),
          "-j",
          "REJECT",
          "--reject-with",
          "tcp-reset"};
}

absl::StatusOr<std::unique_ptr<TcpConnectionCap>> TcpConnectionCap::Install(
    const TcpCapSpec& spec, nfr::v1::TcpConnectionCap backend) {
  std::vector<std::string> errors;
  std::unique_ptr<TcpConnectionCap> cap;
  if (backend != nfr::v1::TCP_CONNECTION_CAP_IPTABLES) {
    auto undo = InstallNft(spec);
    if (undo.ok()) {
      cap.reset(new TcpConnectionCap("nftables", spec, *undo));
    } else {
      errors.push_back(absl::StrCat("nftables: ", undo.status().message()));
    }
  }
  if (cap == nullptr && backend != nfr::v1::TCP_CONNECTION_CAP_NFTABLES) {
    const std::vector<std::string> flavours = IptablesFlavours();
    for (const std::string& flavour : flavours) {
      auto undo = InstallIptables(spec, flavour);
      if (undo.ok()) {
        cap.reset(new TcpConnectionCap(flavour, spec, *undo));
        break;
      }
      errors.push_back(absl::StrCat(flavour, ": ", undo.status().message()));
    }
    if (flavours.empty()) errors.push_back("iptables: not installed");
  }
  if (cap == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot cap connections to API TCP port ", spec.port, " (", absl::StrJoin(errors, "; "),
        "); the kernel needs nft_connlimit (nftables `ct count`) or xt_connlimit + xt_comment + "
        "xt_REJECT with iptables, or set api.limits.tcp_connection_cap to OFF and limit "
        "connections to the port yourself"));
  }
  RemoveOrphanedTcpCaps(Owner(spec));
  return cap;
}

std::string TcpConnectionCap::Describe() const {
  return absl::StrCat(backend_, ": ", spec_.per_peer, " per source (IPv4 address or IPv6 /64), ",
                      spec_.total, " in all, port ", spec_.port);
}

uint64_t SumNftCounterPackets(absl::string_view listing) {
  uint64_t sum = 0;
  constexpr absl::string_view kCounter = "counter packets ";
  for (size_t at = listing.find(kCounter); at != absl::string_view::npos;
       at = listing.find(kCounter, at + 1)) {
    absl::string_view rest = listing.substr(at + kCounter.size());
    uint64_t n = 0;
    if (absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) sum += n;
  }
  return sum;
}

uint64_t SumIptablesCommentPackets(absl::string_view listing, absl::string_view comment) {
  const std::string marker = absl::StrCat("/* ", comment, " */");
  uint64_t sum = 0;
  for (absl::string_view line : absl::StrSplit(listing, '\n')) {
    if (!absl::StrContains(line, marker)) continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t n = 0;
    if (!cols.empty() && absl::SimpleAtoi(cols[0], &n)) sum += n;
  }
  return sum;
}

absl::StatusOr<uint64_t> TcpConnectionCap::ReadResets() const {
  std::vector<std::vector<std::string>> listings;
  if (backend_ == "nftables") {
    listings.push_back({"nft", "list", "table", "inet", NftTable(Owner(spec_))});
  } else {
    for (const std::string& bin : {backend_, V6Binary(backend_)}) {
      listings.push_back({bin, "-w", "5", "-L", "INPUT", "-v", "-x", "-n"});
    }
  }
  uint64_t sum = 0;
  for (const auto& argv : listings) {
    auto r = RunCommand(argv);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::InternalError(absl::StrCat(JoinArgv(argv), ": ", r->err));
    }
    sum += backend_ == "nftables"
               ? SumNftCounterPackets(r->out)
               : SumIptablesCommentPackets(r->out, IptablesComment(Owner(spec_)));
  }
  return sum;
}

uint64_t TcpConnectionCap::Resets() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - resets_read_ >= absl::Seconds(1)) {
    resets_read_ = now;
    if (auto n = ReadResets(); n.ok()) resets_ = *n;
  }
  return resets_;
}

TcpConnectionCap::~TcpConnectionCap() {
  for (const auto& u : undo_) (void)RunChecked(u);
}

int RemoveOrphanedTcpCaps(pid_t self) {
  int removed = 0;
  auto orphaned = [self](pid_t owner) { return owner != 0 && owner != self && !Alive(owner); };
  if (CommandExists("nft")) {
    auto r = RunCommand({"nft", "list", "tables", "inet"});
    if (r.ok() && r->exit_code == 0) {
      for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
        const pid_t owner = OwnerAfter(line, kTcpCapNftTablePrefix);
        if (!orphaned(owner)) continue;
        if (RunChecked({"nft", "delete", "table", "inet", NftTable(owner)}).ok()) ++removed;
      }
    }
  }
  for (const auto& argv : IptablesRuleDeletions("filter", "INPUT", [&](absl::string_view line) {
         return orphaned(OwnerAfter(line, kTcpCapCommentPrefix));
       })) {
    if (RunChecked(argv).ok()) ++removed;
  }
  return removed;
}

}  // namespace nfr::datapath
