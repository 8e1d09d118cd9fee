#include "agent/datapath/compat_rule.h"

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/datapath/exec.h"
#include "agent/datapath/xtables.h"

namespace nfr::datapath {
namespace {

std::string Hex(uint32_t v) { return absl::StrCat("0x", absl::Hex(v, absl::kZeroPad8)); }

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Both families or nothing; returns the undo argvs.
absl::StatusOr<std::vector<std::vector<std::string>>> AddIptablesRules(const std::string& flavour,
                                                                       const CompatRuleSpec& spec) {
  std::vector<std::string> rule = IptablesRuleArgs(spec);
  std::vector<std::vector<std::string>> undo;
  for (const std::string& bin : {flavour, V6Binary(flavour)}) {
    if (!CommandExists(bin)) {
      for (const auto& u : undo) (void)RunChecked(u);
      return absl::NotFoundError(absl::StrCat(bin, " not installed"));
    }
    auto st = RunChecked(Concat({bin, "-w", "5", "-t", "mangle", "-I", "PREROUTING", "1"}, rule));
    if (!st.ok()) {
      for (const auto& u : undo) (void)RunChecked(u);
      return st;
    }
    undo.push_back(Concat({bin, "-w", "5", "-t", "mangle", "-D", "PREROUTING"}, rule));
  }
  return undo;
}

absl::StatusOr<std::vector<std::vector<std::string>>> InstallNft(const CompatRuleSpec& spec) {
  if (!CommandExists("nft")) return absl::NotFoundError("nft not installed");
  std::vector<std::string> del = {"nft", "delete", "table", "inet", kCompatNftTable};
  std::string queue = spec.queue_count > 1
                          ? absl::StrCat(spec.queue_num, "-", spec.queue_num + spec.queue_count - 1)
                          : absl::StrCat(spec.queue_num);
  std::vector<std::string> add_rule = {
      "nft", "add",          "rule", "inet",         kCompatNftTable, "prerouting", "meta", "mark",
      "and", Hex(spec.mark), "==",   Hex(spec.mark), "queue",         "num",        queue};
  const char* flags = spec.queue_count > 1 ? (spec.bypass ? "fanout,bypass" : "fanout")
                                           : (spec.bypass ? "bypass" : nullptr);
  if (flags != nullptr) add_rule.push_back(flags);
  add_rule.insert(add_rule.end(), {"comment", absl::StrCat("\"", kCompatComment, "\"")});
  std::vector<std::vector<std::string>> steps = {
      {"nft", "add", "table", "inet", kCompatNftTable},
      {"nft", "add", "chain", "inet", kCompatNftTable, "prerouting", "{", "type", "filter", "hook",
       "prerouting", "priority", "mangle", ";", "}"},
      add_rule};
  for (const auto& s : steps) {
    if (auto st = RunChecked(s); !st.ok()) {
      (void)RunChecked(del);
      return st;
    }
  }
  return std::vector<std::vector<std::string>>{del};
}

}  // namespace

std::vector<std::string> IptablesRuleArgs(const CompatRuleSpec& spec) {
  std::vector<std::string> r = {
      "-m", "mark",    "--mark",    absl::StrCat(Hex(spec.mark), "/", Hex(spec.mark)),
      "-m", "comment", "--comment", kCompatComment,
      "-j", "NFQUEUE"};
  if (spec.queue_count > 1) {
    r.insert(r.end(), {"--queue-balance",
                       absl::StrCat(spec.queue_num, ":", spec.queue_num + spec.queue_count - 1)});
  } else {
    r.insert(r.end(), {"--queue-num", absl::StrCat(spec.queue_num)});
  }
  if (spec.bypass) r.push_back("--queue-bypass");
  return r;
}

absl::StatusOr<std::unique_ptr<CompatRule>> CompatRule::Install(const CompatRuleSpec& spec,
                                                                nfr::v1::CompatBackend backend) {
  std::vector<std::string> errors;
  if (backend != nfr::v1::COMPAT_BACKEND_IPTABLES) {
    auto undo = InstallNft(spec);
    if (undo.ok()) return std::unique_ptr<CompatRule>(new CompatRule("nftables", *undo));
    errors.push_back(absl::StrCat("nftables: ", undo.status().message()));
  }
  if (backend != nfr::v1::COMPAT_BACKEND_NFTABLES) {
    for (const std::string& flavour : IptablesFlavours()) {
      auto rule = InstallIptables(spec, flavour);
      if (rule.ok()) return rule;
      errors.push_back(absl::StrCat(flavour, ": ", rule.status().message()));
    }
    if (IptablesFlavours().empty()) errors.push_back("iptables: not installed");
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot install the compat-mode NFQUEUE rule (", absl::StrJoin(errors, "; "),
      "); the kernel needs nft_queue, or xt_NFQUEUE + xt_mark + xt_comment with iptables "
      "(nft or legacy) installed, or use a kernel with the tc_nf_redirect patch (mode native)"));
}

absl::StatusOr<std::unique_ptr<CompatRule>> CompatRule::InstallIptables(
    const CompatRuleSpec& spec, const std::string& flavour) {
  auto undo = AddIptablesRules(flavour, spec);
  if (!undo.ok()) return undo.status();
  return std::unique_ptr<CompatRule>(new CompatRule(flavour, *undo));
}

absl::Status CompatRule::Remove() {
  absl::Status first;
  for (const auto& u : undo_) {
    auto st = RunChecked(u);
    if (!st.ok() && first.ok()) first = st;
  }
  undo_.clear();
  return first;
}

CompatRule::~CompatRule() { (void)Remove(); }

StaleCompatRules FindStaleCompatRules() {
  StaleCompatRules stale;
  if (CommandExists("nft")) {
    auto r = RunCommand({"nft", "-a", "list", "chain", "inet", kCompatNftTable, "prerouting"});
    if (r.ok() && r->exit_code == 0) {
      stale.nft_table = true;
      for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
        const size_t h = line.rfind("# handle ");
        if (h == absl::string_view::npos ||
            !absl::StrContains(line, absl::StrCat("comment \"", kCompatComment, "\""))) {
          continue;
        }
        stale.nft_handles.emplace_back(absl::StripAsciiWhitespace(line.substr(h + 9)));
      }
    }
  }
  const std::string comment = absl::StrCat("--comment ", kCompatComment);
  stale.iptables = IptablesRuleDeletions("mangle", "PREROUTING", [&](absl::string_view line) {
    return absl::StrContains(line, comment);
  });
  return stale;
}

int RemoveCompatRules(const StaleCompatRules& stale, bool nft_table_in_use) {
  int removed = 0;
  if (stale.nft_table) {
    if (nft_table_in_use) {
      for (const std::string& handle : stale.nft_handles) {
        if (RunChecked(
                {"nft", "delete", "rule", "inet", kCompatNftTable, "prerouting", "handle", handle})
                .ok()) {
          ++removed;
        }
      }
    } else if (RunChecked({"nft", "delete", "table", "inet", kCompatNftTable}).ok()) {
      removed += static_cast<int>(stale.nft_handles.size());
    }
  }
  // An identical new iptables rule sits first (-I 1), so -D by spec may take the new one and
  // leave the old: the same rule either way.
  for (const auto& argv : stale.iptables) {
    if (RunChecked(argv).ok()) ++removed;
  }
  return removed;
}

int RemoveStaleCompatRules() {
  return RemoveCompatRules(FindStaleCompatRules(), /*nft_table_in_use=*/false);
}

}  // namespace nfr::datapath
