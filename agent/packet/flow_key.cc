#include "agent/packet/flow_key.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace nfr {

nfr_flow_key FlowKeyOf(const PacketInfo& packet) {
  nfr_flow_key key;
  std::memset(&key, 0, sizeof(key));
  key.family = packet.family == 6 ? AF_INET6 : AF_INET;
  key.proto = packet.protocol;
  const size_t addr_len = packet.family == 6 ? 16 : 4;
  std::memcpy(key.saddr, packet.src.data(), addr_len);
  std::memcpy(key.daddr, packet.dst.data(), addr_len);
  if (packet.has_ports) {
    key.sport = htons(packet.src_port);
    key.dport = htons(packet.dst_port);
  } else if (packet.icmp_echo) {
    key.sport = htons(packet.icmp_echo_id);
  }
  return key;
}

nfr_flow_key ReverseFlowKey(const nfr_flow_key& key) {
  nfr_flow_key r = key;
  std::memcpy(r.saddr, key.daddr, sizeof(r.saddr));
  std::memcpy(r.daddr, key.saddr, sizeof(r.daddr));
  if (key.proto == IPPROTO_ICMP || key.proto == IPPROTO_ICMPV6) return r;  // echo id stays
  r.sport = key.dport;
  r.dport = key.sport;
  return r;
}

PacketInfo PacketInfoOfKey(const nfr_flow_key& key) {
  PacketInfo p;
  p.family = key.family == AF_INET6 ? 6 : 4;
  p.protocol = key.proto;
  const size_t addr_len = p.family == 6 ? 16 : 4;
  std::memcpy(p.src.data(), key.saddr, addr_len);
  std::memcpy(p.dst.data(), key.daddr, addr_len);
  if (key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP) {
    p.has_ports = true;
    p.src_port = ntohs(key.sport);
    p.dst_port = ntohs(key.dport);
    if (key.proto == IPPROTO_TCP) p.tcp_flags = kTcpSyn;
  } else if (key.proto == IPPROTO_ICMP || key.proto == IPPROTO_ICMPV6) {
    p.has_icmp = true;
    p.icmp_echo = true;
    p.icmp_type = key.proto == IPPROTO_ICMP ? 8 : 128;
    p.icmp_echo_id = ntohs(key.sport);
  }
  return p;
}

std::string AddressToString(uint8_t family, const std::array<uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof(buf));
  return buf;
}

nfr::v1::Flow FlowOf(const PacketInfo& packet, absl::string_view interface,
                     nfr::v1::Direction direction) {
  nfr::v1::Flow flow;
  flow.set_family(packet.family);
  flow.set_protocol(static_cast<nfr::v1::Protocol>(packet.protocol));
  flow.set_src_addr(AddressToString(packet.family, packet.src));
  flow.set_dst_addr(AddressToString(packet.family, packet.dst));
  if (packet.has_ports) {
    flow.set_src_port(packet.src_port);
    flow.set_dst_port(packet.dst_port);
  } else if (packet.icmp_echo) {
    flow.set_src_port(packet.icmp_echo_id);
  }
  flow.set_interface(std::string(interface));
  flow.set_direction(direction);
  return flow;
}

std::string ProtocolName(uint32_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    default:
      return absl::StrCat("proto-", protocol);
  }
}

std::string DescribeFlow(const nfr::v1::Flow& flow) {
  const int proto = flow.protocol();
  const bool ports = proto == IPPROTO_TCP || proto == IPPROTO_UDP;
  const bool v6 = flow.family() == 6;
  auto endpoint = [&](const std::string& addr, uint32_t port) {
    if (!ports) return addr;
    return v6 ? absl::StrCat("[", addr, "]:", port) : absl::StrCat(addr, ":", port);
  };
  std::string s =
      absl::StrCat(ProtocolName(flow.protocol()), " ", endpoint(flow.src_addr(), flow.src_port()),
                   " -> ", endpoint(flow.dst_addr(), flow.dst_port()));
  if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
    absl::StrAppend(&s, " id ", flow.src_port());
  }
  return s;
}

}  // namespace nfr
