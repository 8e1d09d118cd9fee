// Conversions from a parsed packet to the BPF flow-cache key (bpf/nfr_abi.h)
// and to the nfr.v1.Flow record the API and decision log use.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "agent/packet/packet_parser.h"
#include "nfr/v1/flow.pb.h"
#include "nfr_abi.h"

namespace nfr {

// Same convention as bpf/nfr_tc.bpf.c: family AF_INET/AF_INET6, IPv4 in word 0,
// ports in network order, ICMP/ICMPv6 echo identifier as sport and dport 0.
nfr_flow_key FlowKeyOf(const PacketInfo& packet);
// The key of the opposite direction (addresses and ports swapped).
nfr_flow_key ReverseFlowKey(const nfr_flow_key& key);
// The first packet a key stands for (TCP SYN, UDP, ICMP echo request), for
// matching cached flows against a new policy.
PacketInfo PacketInfoOfKey(const nfr_flow_key& key);

nfr::v1::Flow FlowOf(const PacketInfo& packet, absl::string_view interface,
                     nfr::v1::Direction direction);

// "10.0.0.1" / "fd77::1" from a 16-byte network-order address.
std::string AddressToString(uint8_t family, const std::array<uint8_t, 16>& addr);
// "tcp", "udp", "icmp", "icmpv6" or the number.
std::string ProtocolName(uint32_t protocol);
// "tcp 10.77.0.2:41234 -> 10.77.1.2:80" (ports omitted when not meaningful).
std::string DescribeFlow(const nfr::v1::Flow& flow);

}  // namespace nfr
