// What the compat queue rule and the API's TCP connection cap share about the netfilter tools:
// running one with a readable error, the iptables flavours present, and the legacy tables that
// exist (listing a legacy table creates it, and its hooks, in the namespace).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace nfr::datapath {

// Runs argv; a non-zero exit becomes FAILED_PRECONDITION quoting the command and its first line.
absl::Status RunChecked(const std::vector<std::string>& argv);

// The iptables flavours present on this host, the one `iptables` points at first.
std::vector<std::string> IptablesFlavours();

// "ip6tables-nft" for "iptables-nft", and so on.
std::string V6Binary(const std::string& flavour);

// Every iptables and ip6tables binary of every flavour present (for finding leftovers).
std::vector<std::string> AllIptablesBinaries();

// False for a legacy binary whose `table` does not exist yet in this namespace: listing it would
// create it.
bool IptablesTableListable(const std::string& bin, const std::string& table);

// The rules of `chain` in `table`, over every iptables and ip6tables binary present, whose `-S`
// line `select` picks, each as the argv that deletes it (the quotes iptables puts around a
// comment dropped).
std::vector<std::vector<std::string>> IptablesRuleDeletions(
    const std::string& table, const std::string& chain,
    const std::function<bool(absl::string_view rule_line)>& select);

}  // namespace nfr::datapath
