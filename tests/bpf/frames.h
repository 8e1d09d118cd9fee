// Builds raw Ethernet frames (VLAN tags, IPv4 with options/fragments, IPv6 with extension
// headers, TCP/UDP/ICMP/ICMPv6) for BPF_PROG_TEST_RUN, plus the flow keys they should map to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nfr_abi.h"

namespace nfr::test {

using Bytes = std::vector<uint8_t>;

inline constexpr uint16_t kEthIp = 0x0800;
inline constexpr uint16_t kEthIp6 = 0x86DD;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kTpid8021Q = 0x8100;
inline constexpr uint16_t kTpid8021AD = 0x88A8;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kAck = 0x10;

Bytes Tcp(uint16_t sport, uint16_t dport, uint8_t flags);
Bytes Udp(uint16_t sport, uint16_t dport, size_t payload = 8);
Bytes Icmp(uint8_t type, uint16_t id);  // ICMP and ICMPv6 share the echo layout

struct Ip4Opts {
  Bytes options;      // multiple of 4, <= 40
  uint16_t frag = 0;  // host-order frag_off field (flags | offset)
  std::optional<uint16_t> tot_len;
  std::optional<uint8_t> ihl;  // override (malformed cases)
  uint8_t version = 4;
};
Bytes Ip4(uint8_t proto, const std::string& src, const std::string& dst, const Bytes& l4,
          const Ip4Opts& o = {});

// One extension header: type is what the *previous* header's nexthdr names.
struct Ext6 {
  uint8_t type;              // 0 hop-by-hop, 43 routing, 44 fragment, 60 dstopts, 51 AH
  uint16_t frag_offset = 0;  // fragment header: offset in 8-byte units
  uint8_t len_units = 0;     // hdrlen field (ignored for fragment)
};
Bytes Ip6(uint8_t proto, const std::string& src, const std::string& dst, const Bytes& l4,
          const std::vector<Ext6>& exts = {}, std::optional<uint16_t> payload_len = {});

// Ethernet header (+ VLAN tags, outermost first) around an L3 payload.
Bytes Eth(uint16_t ethertype, const Bytes& l3, const std::vector<uint16_t>& tpids = {});

nfr_flow_key Key4(uint8_t proto, const std::string& src, uint16_t sport, const std::string& dst,
                  uint16_t dport);
nfr_flow_key Key6(uint8_t proto, const std::string& src, uint16_t sport, const std::string& dst,
                  uint16_t dport);

}  // namespace nfr::test
