// Tells whether an interface carries bare IP packets (no link-layer header at tc), like tun,
// WireGuard or PPP devices, so the program parses from the IP header (NFR_IF_L3).
#pragma once

#include <string>

namespace nfr::datapath {

// Looks the link type up in the current network namespace (SIOCGIFHWADDR).
bool IsL3Device(const std::string& ifname);

}  // namespace nfr::datapath
