#include "agent/datapath/xtables.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/datapath/exec.h"

namespace nfr::datapath {
namespace {

// First line of what the tool printed (nft adds the rule and a caret line after it).
std::string Output(const CommandResult& r) {
  std::string s(absl::StripAsciiWhitespace(r.err.empty() ? r.out : r.err));
  s = s.substr(0, s.find('\n'));
  return s.empty() ? absl::StrCat("exit ", r.exit_code) : s;
}

bool IsLegacy(const std::string& bin) {
  if (absl::EndsWith(bin, "-legacy")) return true;
  if (absl::EndsWith(bin, "-nft")) return false;
  auto r = RunCommand({bin, "--version"});
  return r.ok() && absl::StrContains(r->out, "legacy");
}

}  // namespace

absl::Status RunChecked(const std::vector<std::string>& argv) {
  auto r = RunCommand(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat("`", JoinArgv(argv), "`: ", Output(*r)));
  }
  return absl::OkStatus();
}

std::vector<std::string> IptablesFlavours() {
  std::vector<std::string> out;
  char buf[PATH_MAX];
  std::string preferred = "iptables-nft";
  if (realpath("/usr/sbin/iptables", buf) != nullptr && absl::StrContains(buf, "legacy")) {
    preferred = "iptables-legacy";
  }
  for (const std::string& f :
       {preferred, std::string(preferred == "iptables-nft" ? "iptables-legacy" : "iptables-nft")}) {
    if (CommandExists(f)) out.push_back(f);
  }
  if (out.empty() && CommandExists("iptables")) out.push_back("iptables");
  return out;
}

std::string V6Binary(const std::string& flavour) {
  return absl::StrCat("ip6tables", flavour.substr(strlen("iptables")));
}

std::vector<std::string> AllIptablesBinaries() {
  std::vector<std::string> bins;
  for (std::string f : {"iptables-nft", "iptables-legacy"}) {
    if (CommandExists(f)) bins.push_back(f);
    if (CommandExists(V6Binary(f))) bins.push_back(V6Binary(f));
  }
  if (bins.empty()) bins = {"iptables", "ip6tables"};
  return bins;
}

bool IptablesTableListable(const std::string& bin, const std::string& table) {
  if (!IsLegacy(bin)) return true;
  std::ifstream names(absl::StartsWith(bin, "ip6") ? "/proc/net/ip6_tables_names"
                                                   : "/proc/net/ip_tables_names");
  std::string line;
  while (std::getline(names, line)) {
    if (line == table) return true;
  }
  return false;
}

std::vector<std::vector<std::string>> IptablesRuleDeletions(
    const std::string& table, const std::string& chain,
    const std::function<bool(absl::string_view rule_line)>& select) {
  std::vector<std::vector<std::string>> deletions;
  const std::string append = absl::StrCat("-A ", chain, " ");
  for (const std::string& bin : AllIptablesBinaries()) {
    if (!IptablesTableListable(bin, table)) continue;
    auto r = RunCommand({bin, "-w", "5", "-t", table, "-S", chain});
    if (!r.ok() || r->exit_code != 0) continue;
    for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
      if (!absl::StartsWith(line, append) || !select(line)) continue;
      std::vector<std::string> argv = {bin, "-w", "5", "-t", table};
      for (absl::string_view tok : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
        argv.emplace_back(tok == "-A" ? "-D"
                                      : absl::StripSuffix(absl::StripPrefix(tok, "\""), "\""));
      }
      deletions.push_back(std::move(argv));
    }
  }
  return deletions;
}

}  // namespace nfr::datapath
