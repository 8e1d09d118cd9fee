// The map layouts shared with the BPF program (bpf/nfr_abi.h) are the same on every CPU the
// agent is built for (the cross tier runs this on armhf, mipsel and big-endian s390x), and
// flow keys carry addresses and ports in network byte order at fixed offsets.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "agent/packet/flow_key.h"
#include "agent/packet/packet_parser.h"
#include "nfr_abi.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

using namespace ::nfr::testing;

// clang -target bpfel/bpfeb lays these out with natural alignment; 32-bit ABIs whose u64
// alignment is 4 (i386) or whose padding differs would disagree here at compile time.
static_assert(sizeof(nfr_config) == 28);
static_assert(sizeof(nfr_flow_key) == 40);
static_assert(offsetof(nfr_flow_key, sport) == 4);
static_assert(offsetof(nfr_flow_key, dport) == 6);
static_assert(offsetof(nfr_flow_key, saddr) == 8);
static_assert(offsetof(nfr_flow_key, daddr) == 24);
static_assert(sizeof(nfr_flow_value) == 32);
static_assert(offsetof(nfr_flow_value, expires_ns) == 0);
static_assert(offsetof(nfr_flow_value, verdict) == 8);
static_assert(offsetof(nfr_flow_value, origin) == 12);
static_assert(offsetof(nfr_flow_value, direction) == 13);
static_assert(offsetof(nfr_flow_value, flags) == 14);
static_assert(offsetof(nfr_flow_value, ifindex) == 16);
static_assert(offsetof(nfr_flow_value, rule) == 20);
static_assert(offsetof(nfr_flow_value, origin_id) == 24);
static_assert(sizeof(nfr_lpm_v4_key) == 8);
static_assert(sizeof(nfr_lpm_v6_key) == 20);
static_assert(sizeof(nfr_iface) == 4);
static_assert(sizeof(nfr_budget_key) == 12);
static_assert(sizeof(nfr_budget_value) == 8);

TEST(AbiLayout, FlowKeyBytesAreNetworkOrder) {
  auto info =
      ParsePacket(Ipv4({10, 77, 0, 2}, {192, 168, 1, 9}, 6, TcpHeader(0x1234, 443, kTcpSyn)));
  ASSERT_TRUE(info.ok()) << info.status();
  const nfr_flow_key key = FlowKeyOf(*info);
  unsigned char raw[sizeof(key)];
  std::memcpy(raw, &key, sizeof(key));
  EXPECT_EQ(raw[0], 2);  // AF_INET
  EXPECT_EQ(raw[1], 6);  // TCP
  EXPECT_EQ(raw[4], 0x12);
  EXPECT_EQ(raw[5], 0x34);
  EXPECT_EQ(raw[6], 0x01);  // 443 = 0x01bb
  EXPECT_EQ(raw[7], 0xbb);
  const unsigned char saddr[] = {10, 77, 0, 2, 0, 0, 0, 0};
  const unsigned char daddr[] = {192, 168, 1, 9, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(raw + 8, saddr, sizeof(saddr)), 0);
  EXPECT_EQ(std::memcmp(raw + 24, daddr, sizeof(daddr)), 0);

  // Round trip through the key (cached flows are re-matched from keys alone).
  const PacketInfo back = PacketInfoOfKey(key);
  EXPECT_EQ(back.src_port, 0x1234);
  EXPECT_EQ(back.dst_port, 443);
  EXPECT_EQ(back.src, info->src);
  EXPECT_EQ(back.dst, info->dst);
  const nfr_flow_key rev = ReverseFlowKey(key);
  std::memcpy(raw, &rev, sizeof(rev));
  EXPECT_EQ(raw[4], 0x01);
  EXPECT_EQ(raw[5], 0xbb);
  EXPECT_EQ(std::memcmp(raw + 8, daddr, sizeof(daddr)), 0);
}

TEST(AbiLayout, IcmpEchoIdIsTheSourcePort) {
  auto info = ParsePacket(Ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 1, IcmpEcho(8, 0xbeef, 1)));
  ASSERT_TRUE(info.ok()) << info.status();
  const nfr_flow_key key = FlowKeyOf(*info);
  unsigned char raw[sizeof(key)];
  std::memcpy(raw, &key, sizeof(key));
  EXPECT_EQ(raw[4], 0xbe);
  EXPECT_EQ(raw[5], 0xef);
  EXPECT_EQ(raw[6], 0);
  EXPECT_EQ(raw[7], 0);
}

}  // namespace
}  // namespace nfr
