// What the compat queue rule and the API's TCP connection cap share about the netfilter tools:
// running one with a readable error, the iptables flavours present, and the legacy tables that
// exist (listing a legacy table creates it, and its hooks, in the namespace).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

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

}  // namespace nfr::datapath
