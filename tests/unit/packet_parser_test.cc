#include "agent/packet/packet_parser.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <random>

#include "agent/packet/flow_key.h"
#include "gtest/gtest.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

using testing::Ext8;
using testing::FragmentHeader;
using testing::IcmpEcho;
using testing::Ipv4;
using testing::Ipv6;
using testing::kV6Dst;
using testing::kV6Src;
using testing::TcpHeader;
using testing::UdpHeader;

absl::StatusOr<PacketInfo> Parse(const std::vector<uint8_t>& p) {
  return ParsePacket(absl::MakeConstSpan(p));
}

// Every strict prefix that cuts into the headers fails; the full headers parse.
void ExpectTruncationsFail(const std::vector<uint8_t>& packet, size_t header_end) {
  for (size_t n = 0; n < header_end; ++n) {
    std::vector<uint8_t> cut(packet.begin(), packet.begin() + n);
    EXPECT_FALSE(Parse(cut).ok()) << "prefix of " << n << " bytes parsed";
  }
  for (size_t n = header_end; n <= packet.size(); ++n) {
    std::vector<uint8_t> cut(packet.begin(), packet.begin() + n);
    EXPECT_TRUE(Parse(cut).ok()) << "prefix of " << n << " bytes: " << Parse(cut).status();
  }
}

TEST(PacketParser, Ipv4TcpSyn) {
  auto p = Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 6, TcpHeader(41234, 80, kTcpSyn));
  auto info = Parse(p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->family, 4);
  EXPECT_EQ(info->protocol, 6);
  EXPECT_TRUE(info->has_ports);
  EXPECT_EQ(info->src_port, 41234);
  EXPECT_EQ(info->dst_port, 80);
  EXPECT_EQ(info->tcp_flags, kTcpSyn);
  EXPECT_FALSE(info->fragment);
  EXPECT_EQ(info->l4_offset, 20u);

  nfr_flow_key key = FlowKeyOf(*info);
  EXPECT_EQ(key.family, AF_INET);
  EXPECT_EQ(key.proto, 6);
  EXPECT_EQ(key.pad, 0);
  EXPECT_EQ(key.sport, htons(41234));
  EXPECT_EQ(key.dport, htons(80));
  in_addr a;
  inet_pton(AF_INET, "10.77.0.2", &a);
  EXPECT_EQ(key.saddr[0], a.s_addr);
  EXPECT_EQ(key.saddr[1] | key.saddr[2] | key.saddr[3], 0u);
  inet_pton(AF_INET, "10.77.1.2", &a);
  EXPECT_EQ(key.daddr[0], a.s_addr);

  auto flow = FlowOf(*info, "r-cli", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(flow.family(), 4u);
  EXPECT_EQ(flow.protocol(), nfr::v1::PROTOCOL_TCP);
  EXPECT_EQ(flow.src_addr(), "10.77.0.2");
  EXPECT_EQ(flow.dst_addr(), "10.77.1.2");
  EXPECT_EQ(flow.src_port(), 41234u);
  EXPECT_EQ(flow.dst_port(), 80u);
  EXPECT_EQ(flow.interface(), "r-cli");
  EXPECT_EQ(DescribeFlow(flow), "tcp 10.77.0.2:41234 -> 10.77.1.2:80");

  ExpectTruncationsFail(p, 40);
}

TEST(PacketParser, ReverseKeySwapsEndpoints) {
  auto info = Parse(Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17, UdpHeader(5000, 53)));
  ASSERT_TRUE(info.ok());
  nfr_flow_key k = FlowKeyOf(*info);
  nfr_flow_key r = ReverseFlowKey(k);
  EXPECT_EQ(r.saddr[0], k.daddr[0]);
  EXPECT_EQ(r.daddr[0], k.saddr[0]);
  EXPECT_EQ(r.sport, k.dport);
  EXPECT_EQ(r.dport, k.sport);
}

TEST(PacketParser, Ipv4OptionsUdp) {
  auto p = Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17, UdpHeader(5353, 53), 40);
  auto info = Parse(p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->l4_offset, 60u);
  EXPECT_EQ(info->src_port, 5353);
  EXPECT_EQ(info->dst_port, 53);
  ExpectTruncationsFail(p, 68);
}

TEST(PacketParser, Ipv4Fragments) {
  auto first = Parse(Ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, 17, UdpHeader(1, 2), 0, 0x2000));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->fragment);
  EXPECT_FALSE(first->later_fragment);
  EXPECT_TRUE(first->has_ports);

  // A later fragment carries no UDP header; its payload must not be read as one.
  auto later = Parse(Ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, 17, {0xde, 0xad}, 0, 185));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(later->fragment);
  EXPECT_TRUE(later->later_fragment);
  EXPECT_FALSE(later->has_ports);
  nfr_flow_key key = FlowKeyOf(*later);
  EXPECT_EQ(key.sport, 0);
  EXPECT_EQ(key.dport, 0);
}

TEST(PacketParser, Ipv4IcmpEcho) {
  auto p = Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 1, IcmpEcho(8, 0x1234, 1));
  auto info = Parse(p);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->has_icmp);
  EXPECT_TRUE(info->icmp_echo);
  EXPECT_EQ(info->icmp_type, 8);
  EXPECT_EQ(info->icmp_echo_id, 0x1234);
  EXPECT_FALSE(info->has_ports);
  nfr_flow_key key = FlowKeyOf(*info);
  EXPECT_EQ(key.sport, htons(0x1234));
  EXPECT_EQ(key.dport, 0);
  auto flow = FlowOf(*info, "x", nfr::v1::DIRECTION_EGRESS);
  EXPECT_EQ(flow.src_port(), 0x1234u);
  EXPECT_EQ(flow.dst_port(), 0u);
  EXPECT_EQ(DescribeFlow(flow), "icmp 10.77.0.2 -> 10.77.1.2 id 4660");
  ExpectTruncationsFail(p, 28);
}

TEST(PacketParser, Ipv4IcmpNonEchoNeedsOnlyFourBytes) {
  auto info = Parse(Ipv4({1, 1, 1, 1}, {2, 2, 2, 2}, 1, {3, 1, 0, 0}));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->icmp_echo);
  EXPECT_EQ(FlowKeyOf(*info).sport, 0);
}

TEST(PacketParser, OtherProtocolHasAddressesOnly) {
  auto info = Parse(Ipv4({1, 1, 1, 1}, {2, 2, 2, 2}, 47, {}));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->protocol, 47);
  EXPECT_FALSE(info->has_ports);
}

TEST(PacketParser, CaptureShorterThanDatagramIsFine) {
  std::vector<uint8_t> payload(1000, 0xab);
  auto tcp = TcpHeader(1000, 443, kTcpAck);
  tcp.insert(tcp.end(), payload.begin(), payload.end());
  auto p = Ipv4({1, 1, 1, 1}, {2, 2, 2, 2}, 6, tcp);
  p.resize(256);  // NFQUEUE copy range
  auto info = Parse(p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->dst_port, 443);
}

TEST(PacketParser, Ipv4Malformed) {
  auto good = Ipv4({1, 1, 1, 1}, {2, 2, 2, 2}, 6, TcpHeader(1, 2, kTcpSyn));
  auto bad_version = good;
  bad_version[0] = 0x55;
  EXPECT_FALSE(Parse(bad_version).ok());
  auto bad_ihl = good;
  bad_ihl[0] = 0x44;
  EXPECT_FALSE(Parse(bad_ihl).ok());
  auto short_total = good;
  testing::Put16(short_total, 2, 19);
  EXPECT_FALSE(Parse(short_total).ok());
  auto tcp_outside_total = good;
  testing::Put16(tcp_outside_total, 2, 30);  // TCP header would end at 40
  auto s = Parse(tcp_outside_total).status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("past the IP length"), std::string::npos) << s;
  auto bad_doff = good;
  bad_doff[20 + 12] = 4 << 4;
  EXPECT_FALSE(Parse(bad_doff).ok());
  auto big_tcp = good;  // BIG TCP GSO packets have total length 0
  testing::Put16(big_tcp, 2, 0);
  EXPECT_TRUE(Parse(big_tcp).ok());
}

TEST(PacketParser, Ipv6Tcp) {
  auto p = Ipv6(kV6Src, kV6Dst, 6, {}, TcpHeader(40000, 22, kTcpSyn));
  auto info = Parse(p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->family, 6);
  EXPECT_EQ(info->dst_port, 22);
  nfr_flow_key key = FlowKeyOf(*info);
  EXPECT_EQ(key.family, AF_INET6);
  EXPECT_EQ(0, std::memcmp(key.saddr, kV6Src, 16));
  EXPECT_EQ(0, std::memcmp(key.daddr, kV6Dst, 16));
  auto flow = FlowOf(*info, "r-cli", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(flow.family(), 6u);
  EXPECT_EQ(flow.src_addr(), "fd77::2");
  EXPECT_EQ(flow.dst_addr(), "fd77:1::2");
  EXPECT_EQ(DescribeFlow(flow), "tcp [fd77::2]:40000 -> [fd77:1::2]:22");
  ExpectTruncationsFail(p, 60);
}

TEST(PacketParser, Ipv6ExtensionHeaders) {
  std::vector<uint8_t> ext = Ext8(60);  // hop-by-hop -> dst opts
  auto d = Ext8(43);                    // dst opts -> routing
  auto r = Ext8(17);                    // routing -> UDP
  ext.insert(ext.end(), d.begin(), d.end());
  ext.insert(ext.end(), r.begin(), r.end());
  auto p = Ipv6(kV6Src, kV6Dst, 0, ext, UdpHeader(1111, 2222));
  auto info = Parse(p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->protocol, 17);
  EXPECT_EQ(info->l4_offset, 64u);
  EXPECT_EQ(info->dst_port, 2222);
  ExpectTruncationsFail(p, 72);
}

TEST(PacketParser, Ipv6AuthenticationHeader) {
  std::vector<uint8_t> ah(12, 0);  // (1 + 2) * 4 bytes
  ah[0] = 6;
  ah[1] = 1;
  auto info = Parse(Ipv6(kV6Src, kV6Dst, 51, ah, TcpHeader(1, 2, kTcpSyn)));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->l4_offset, 52u);
  EXPECT_EQ(info->protocol, 6);
}

TEST(PacketParser, Ipv6Fragments) {
  auto first = Parse(Ipv6(kV6Src, kV6Dst, 44, FragmentHeader(17, 0, true), UdpHeader(7, 9)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->fragment);
  EXPECT_FALSE(first->later_fragment);
  EXPECT_EQ(first->dst_port, 9);
  auto later = Parse(Ipv6(kV6Src, kV6Dst, 44, FragmentHeader(17, 100, false), {1, 2}));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(later->later_fragment);
  EXPECT_EQ(later->protocol, 17);
  EXPECT_FALSE(later->has_ports);
}

TEST(PacketParser, Ipv6IcmpEcho) {
  auto p = Ipv6(kV6Src, kV6Dst, 58, {}, IcmpEcho(128, 77, 1));
  auto info = Parse(p);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->icmp_echo);
  EXPECT_EQ(FlowKeyOf(*info).sport, htons(77));
  ExpectTruncationsFail(p, 48);
  auto ns = Parse(Ipv6(kV6Src, kV6Dst, 58, {}, {135, 0, 0, 0}));  // neighbour solicitation
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->icmp_echo);
}

TEST(PacketParser, Ipv6Malformed) {
  std::vector<uint8_t> many;
  for (int i = 0; i < kMaxIpv6ExtHeaders + 1; ++i) {
    auto h = Ext8(i == kMaxIpv6ExtHeaders ? 6 : 60);
    many.insert(many.end(), h.begin(), h.end());
  }
  auto s = Parse(Ipv6(kV6Src, kV6Dst, 60, many, TcpHeader(1, 2, kTcpSyn))).status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("extension headers"), std::string::npos) << s;

  // A later IPv6 fragment: the bytes after the fragment header are payload.
  auto later = Parse(Ipv6(kV6Src, kV6Dst, 44, FragmentHeader(60, 10, false), {0xff}));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->protocol, 60);
  EXPECT_TRUE(later->later_fragment);

  auto beyond = Ipv6(kV6Src, kV6Dst, 6, {}, TcpHeader(1, 2, kTcpSyn));
  testing::Put16(beyond, 4, 10);  // payload length shorter than the TCP header
  EXPECT_FALSE(Parse(beyond).ok());
}

TEST(PacketParser, EmptyAndRandomInputNeverCrash) {
  EXPECT_FALSE(ParsePacket({}).ok());
  std::mt19937 rng(42);
  std::vector<uint8_t> buf;
  for (int i = 0; i < 20000; ++i) {
    buf.resize(rng() % 128);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    if (!buf.empty()) buf[0] = (rng() & 1) ? (0x40 | (buf[0] & 0x0f)) : 0x60;
    auto info = ParsePacket(absl::MakeConstSpan(buf));
    if (info.ok()) {
      EXPECT_LE(info->l4_offset, buf.size());
    }
  }
}

}  // namespace
}  // namespace nfr
