// Runs the real tc programs (nfr_ingress/nfr_egress/nfr_probe) on crafted frames with
// BPF_PROG_TEST_RUN against the running kernel, and checks verdicts, marks, maps and counters.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include "agent/datapath/flow_cache.h"
#include "gtest/gtest.h"
#include "nfr_abi.h"
#include "nfr_tc.skel.h"
#include "tests/bpf/frames.h"
#include "tests/bpf/netns.h"

namespace nfr::test {
namespace {

constexpr uint32_t kMark = 0x01000000;
constexpr uint32_t kLo = 1;  // BPF_PROG_TEST_RUN runs on the netns loopback by default

enum class Dir { kIngress, kEgress };

struct RunResult {
  int err = -1;
  int retval = -1;
  uint32_t mark = 0;
};

class TcProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for BPF_PROG_TEST_RUN";
    skel_ = nfr_tc__open_and_load();
    ASSERT_NE(skel_, nullptr) << "loading nfr_tc failed: " << strerror(errno);
    SetConfig(NFR_MODE_COMPAT, 0);
    EnableIface(kLo, NFR_IF_INGRESS | NFR_IF_EGRESS);
    SelectProtocols({IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6});
  }
  void TearDown() override {
    if (skel_) nfr_tc__destroy(skel_);
  }

  void SetConfig(uint32_t mode, uint32_t flags, uint32_t pending_ttl_ms = 5000,
                 uint32_t budget_rate = 0, uint32_t budget_burst = 0) {
    nfr_config c = {
        mode, flags, kMark, pending_ttl_ms, budget_rate, budget_burst, NFR_MAP_LAYOUT_VERSION};
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_config), &zero, &c, BPF_ANY), 0);
  }
  void EnableIface(uint32_t ifindex, uint32_t flags) {
    nfr_iface v = {flags};
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_ifaces), &ifindex, &v, BPF_ANY), 0);
    if (ifindex < NFR_IFIDX_MAX) {  // as the agent writes them
      ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_ifidx), &ifindex, &v, BPF_ANY), 0);
    }
  }
  void SelectProtocols(std::initializer_list<int> protos) {
    for (int p : protos) SetByte(skel_->maps.nfr_sel_proto, p, 1);
  }
  void SetByte(bpf_map* map, uint32_t key, uint8_t v) {
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(map), &key, &v, BPF_ANY), 0);
  }
  void AddPrefix4(const char* addr, uint32_t len) {
    nfr_lpm_v4_key k = {len, 0};
    inet_pton(AF_INET, addr, &k.addr);
    uint8_t one = 1;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_sel_v4), &k, &one, BPF_ANY), 0);
  }
  void AddPrefix6(const char* addr, uint32_t len) {
    nfr_lpm_v6_key k = {};
    k.prefixlen = len;
    inet_pton(AF_INET6, addr, k.addr);
    uint8_t one = 1;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_sel_v6), &k, &one, BPF_ANY), 0);
  }

  RunResult Run(const Bytes& frame, Dir dir = Dir::kIngress, uint32_t mark_in = 0,
                uint32_t ifindex = kLo) {
    bpf_program* prog = dir == Dir::kIngress ? skel_->progs.nfr_ingress : skel_->progs.nfr_egress;
    return RunProg(bpf_program__fd(prog), frame, mark_in, ifindex);
  }
  static RunResult RunProg(int fd, const Bytes& frame, uint32_t mark_in = 0,
                           uint32_t ifindex = kLo) {
    __sk_buff in = {}, out = {};
    in.mark = mark_in;
    in.ifindex = ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &in, .ctx_out = &out,
                .ctx_size_in = sizeof(in), .ctx_size_out = sizeof(out), .repeat = 1);
    RunResult r;
    r.err = bpf_prog_test_run_opts(fd, &opts);
    r.retval = static_cast<int>(opts.retval);
    r.mark = out.mark;
    return r;
  }

  uint64_t Stat(nfr_stat s) { return datapath::ReadStats(bpf_map__fd(skel_->maps.nfr_stats))[s]; }
  std::optional<nfr_flow_value> RawFlow(const nfr_flow_key& k) {
    nfr_flow_value v;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.nfr_flows), &k, &v) != 0) return {};
    return v;
  }
  size_t FlowCount() {
    int fd = bpf_map__fd(skel_->maps.nfr_flows);
    nfr_flow_key k, next;
    size_t n = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      ++n;
      k = next;
      prev = &k;
    }
    return n;
  }
  void PutFlow(const nfr_flow_key& k, nfr_verdict v, int64_t ttl_ns, uint16_t flags = 0) {
    nfr_flow_value val = {};
    val.verdict = v;
    val.flags = flags;
    val.expires_ns = ttl_ns == 0 ? 0 : datapath::MonotonicNowNs() + ttl_ns;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_flows), &k, &val, BPF_ANY), 0);
  }

  // Expects: passed with the compat mark, pending entry for key, TO_COMPAT counted.
  void ExpectSentUp(const Bytes& frame, const nfr_flow_key& key) {
    uint64_t before = Stat(NFR_STAT_TO_COMPAT);
    RunResult r = Run(frame);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, TC_ACT_OK);
    EXPECT_EQ(r.mark & kMark, kMark);
    EXPECT_EQ(Stat(NFR_STAT_TO_COMPAT), before + 1);
    auto v = RawFlow(key);
    ASSERT_TRUE(v.has_value()) << "no pending entry for the expected key";
    EXPECT_EQ(v->verdict, NFR_VERDICT_PENDING);
  }
  // Expects: passed untouched, no map write.
  void ExpectPassedQuietly(const Bytes& frame, nfr_stat counted) {
    uint64_t before = Stat(counted);
    size_t flows = FlowCount();
    RunResult r = Run(frame);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, TC_ACT_OK);
    EXPECT_EQ(r.mark, 0u);
    EXPECT_EQ(Stat(counted), before + 1) << "stat " << counted;
    EXPECT_EQ(FlowCount(), flows);
  }

  nfr_tc* skel_ = nullptr;
};

const char* kA = "10.77.0.2";
const char* kB = "10.77.1.2";
const char* kA6 = "fd77::2";
const char* kB6 = "fd77:1::2";

Bytes Syn4(uint16_t sport = 40000, uint16_t dport = 80) {
  return Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(sport, dport, kSyn)));
}
Bytes Syn6(uint16_t sport = 40000, uint16_t dport = 80) {
  return Eth(kEthIp6, Ip6(IPPROTO_TCP, kA6, kB6, Tcp(sport, dport, kSyn)));
}

// ---- parsing ----

TEST_F(TcProgramTest, Ipv4TcpSynGoesUpWithPendingEntry) {
  ExpectSentUp(Syn4(), Key4(IPPROTO_TCP, kA, 40000, kB, 80));
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 1u);
}

TEST_F(TcProgramTest, TcpSynAckAndAckWithoutEntryPassWithoutWrites) {
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn | kAck))),
                      NFR_STAT_NOT_NEW);
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kAck))), NFR_STAT_NOT_NEW);
}

TEST_F(TcProgramTest, UdpWithoutEntryIsNew) {
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(5353, 53))),
               Key4(IPPROTO_UDP, kA, 5353, kB, 53));
}

TEST_F(TcProgramTest, IcmpEchoRequestIsNewKeyedByIdentifier) {
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_ICMP, kA, kB, Icmp(8, 0x4242))),
               Key4(IPPROTO_ICMP, kA, 0x4242, kB, 0));
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_ICMP, kB, kA, Icmp(0, 0x4242))), NFR_STAT_NOT_NEW);
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_ICMP, kB, kA, Icmp(3, 0))), NFR_STAT_NOT_NEW);
}

TEST_F(TcProgramTest, Icmpv6EchoRequestIsNew) {
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_ICMPV6, kA6, kB6, Icmp(128, 7))),
               Key6(IPPROTO_ICMPV6, kA6, 7, kB6, 0));
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_ICMPV6, kB6, kA6, Icmp(129, 7))), NFR_STAT_NOT_NEW);
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_ICMPV6, kB6, kA6, Icmp(135, 0))),
                      NFR_STAT_NOT_NEW);  // neighbour solicitation
}

TEST_F(TcProgramTest, Ipv6TcpSyn) { ExpectSentUp(Syn6(), Key6(IPPROTO_TCP, kA6, 40000, kB6, 80)); }

TEST_F(TcProgramTest, Vlan8021QTagged) {
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1000, 22, kSyn)), {kTpid8021Q}),
               Key4(IPPROTO_TCP, kA, 1000, kB, 22));
}

TEST_F(TcProgramTest, QinQ8021adOver8021Q) {
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 443)), {kTpid8021AD, kTpid8021Q}),
               Key6(IPPROTO_UDP, kA6, 1, kB6, 443));
}

TEST_F(TcProgramTest, ThreeVlanTagsAreNotParsed) {
  ExpectPassedQuietly(
      Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn)), {kTpid8021AD, kTpid8021Q, kTpid8021Q}),
      NFR_STAT_NOT_IP);
}

TEST_F(TcProgramTest, Ipv4OptionsSkippedByIhl) {
  Ip4Opts o;
  o.options = {0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01, 0x00};  // RA + NOPs
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(3333, 8080, kSyn), o)),
               Key4(IPPROTO_TCP, kA, 3333, kB, 8080));
  Ip4Opts max;
  max.options.assign(40, 0x01);  // ihl 15
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(9, 10), max)),
               Key4(IPPROTO_UDP, kA, 9, kB, 10));
}

TEST_F(TcProgramTest, Ipv4FirstFragmentCarriesPorts) {
  Ip4Opts o;
  o.frag = 0x2000;  // MF, offset 0
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(7, 8, 64), o)),
               Key4(IPPROTO_UDP, kA, 7, kB, 8));
}

TEST_F(TcProgramTest, Ipv4LaterFragmentPassesWithoutLookupWrites) {
  Ip4Opts o;
  o.frag = 0x2000 | 10;  // MF, offset 80 bytes; payload looks like a UDP header but is not
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(7, 8, 64), o)), NFR_STAT_NOT_NEW);
  o.frag = 10;  // last fragment
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(7, 8, 64), o)), NFR_STAT_NOT_NEW);
}

TEST_F(TcProgramTest, Ipv6ExtensionHeadersWalked) {
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_TCP, kA6, kB6, Tcp(5, 6, kSyn),
                                {{0, 0, 0}, {43, 0, 2}, {60, 0, 1}, {51, 0, 4}})),
               Key6(IPPROTO_TCP, kA6, 5, kB6, 6));
}

TEST_F(TcProgramTest, Ipv6FirstFragmentParsedLaterFragmentPassed) {
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(11, 12), {{44, 0, 0}})),
               Key6(IPPROTO_UDP, kA6, 11, kB6, 12));
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(11, 13), {{44, 5, 0}})),
                      NFR_STAT_NOT_NEW);
}

TEST_F(TcProgramTest, Ipv6SixExtensionHeadersOkSevenTooMany) {
  std::vector<Ext6> six(6, Ext6{60, 0, 0});
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 2), six)),
               Key6(IPPROTO_UDP, kA6, 1, kB6, 2));
  std::vector<Ext6> seven(7, Ext6{60, 0, 0});
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 3), seven)), NFR_STAT_NOT_IP);
}

TEST_F(TcProgramTest, NonIpPasses) {
  ExpectPassedQuietly(Eth(kEthArp, Bytes(28, 0)), NFR_STAT_NOT_IP);
  ExpectPassedQuietly(Eth(0x88cc, Bytes(40, 0)), NFR_STAT_NOT_IP);  // LLDP
}

// The kernel's BPF_PROG_TEST_RUN refuses untagged IPv4/IPv6 frames shorter than Ethernet + the
// fixed IP header; behind a VLAN tag it accepts any length, so truncations use a tag.
TEST_F(TcProgramTest, MalformedAndTruncatedPacketsPass) {
  const std::vector<uint16_t> tag = {kTpid8021Q};
  Bytes syn_l3 = Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn));
  // Ethernet (+tag) header only.
  ExpectPassedQuietly(Eth(kEthIp, {}, tag), NFR_STAT_NOT_IP);
  // IPv4 header cut short.
  ExpectPassedQuietly(Eth(kEthIp, Bytes(syn_l3.begin(), syn_l3.begin() + 12), tag),
                      NFR_STAT_NOT_IP);
  // TCP header cut short (frame ends, and tot_len agrees).
  ExpectPassedQuietly(Eth(kEthIp, Bytes(syn_l3.begin(), syn_l3.begin() + 30)), NFR_STAT_NOT_IP);
  // ihl < 5, wrong version, tot_len < header, tot_len hides the TCP header.
  Ip4Opts bad_ihl;
  bad_ihl.ihl = 4;
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn), bad_ihl)),
                      NFR_STAT_NOT_IP);
  Ip4Opts v6hdr;
  v6hdr.version = 6;
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn), v6hdr)),
                      NFR_STAT_NOT_IP);
  Ip4Opts short_tot;
  short_tot.tot_len = 16;
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn), short_tot)),
                      NFR_STAT_NOT_IP);
  Ip4Opts no_l4;
  no_l4.tot_len = 20;  // trailing bytes are link padding, not TCP
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn), no_l4)),
                      NFR_STAT_NOT_IP);
  Ip4Opts short_udp;
  short_udp.tot_len = 20 + 6;  // UDP header needs 8
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 2), short_udp)), NFR_STAT_NOT_IP);
  // ihl points past the end of the packet.
  Ip4Opts long_ihl;
  long_ihl.ihl = 15;
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Bytes(4, 0), long_ihl)),
                      NFR_STAT_NOT_IP);
  // IPv6: truncated fixed header, wrong version nibble, payload_len too short for UDP,
  // extension header claiming more bytes than exist.
  Bytes v6 = Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 2));
  ExpectPassedQuietly(Eth(kEthIp6, Bytes(v6.begin(), v6.begin() + 30), tag), NFR_STAT_NOT_IP);
  Bytes v4in6 = v6;
  v4in6[0] = 0x45;
  ExpectPassedQuietly(Eth(kEthIp6, v4in6), NFR_STAT_NOT_IP);
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 2), {}, 4)), NFR_STAT_NOT_IP);
  Bytes ext = Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 2), {{60, 0, 200}});
  ext.resize(40 + 16);
  ExpectPassedQuietly(Eth(kEthIp6, ext), NFR_STAT_NOT_IP);
  // VLAN tag with nothing after it.
  Bytes vlan = Eth(kEthIp, {}, tag);
  vlan.resize(16);
  ExpectPassedQuietly(vlan, NFR_STAT_NOT_IP);
  EXPECT_EQ(FlowCount(), 0u);
}

// Random truncations and byte flips of valid frames: the program never fails, never drops
// (no DENY entries exist) and only ever returns TC_ACT_OK.
TEST_F(TcProgramTest, RandomlyMangledFramesNeverCrashOrDrop) {
  std::vector<Bytes> seeds = {
      Syn4(),
      Syn6(),
      Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 2, kSyn)), {kTpid8021Q}),
      Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 2), {{0, 0, 0}}), {kTpid8021AD}),
      Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 2)), {kTpid8021AD, kTpid8021Q}),
      Eth(kEthIp6, Ip6(IPPROTO_TCP, kA6, kB6, Tcp(5, 6, kSyn), {{0, 0, 1}, {44, 0, 0}})),
      Eth(kEthIp, Ip4(IPPROTO_ICMP, kA, kB, Icmp(8, 1)))};
  std::mt19937 rng(20261126);
  int runs = 0;
  for (int i = 0; i < 4000; ++i) {
    Bytes f = seeds[rng() % seeds.size()];
    int flips = rng() % 6;
    for (int j = 0; j < flips; ++j) f[14 + rng() % (f.size() - 14)] = rng() & 0xff;
    if (rng() % 2) f.resize(14 + rng() % (f.size() - 13));
    RunResult r = Run(f, i % 3 == 0 ? Dir::kEgress : Dir::kIngress);
    if (r.err == -EINVAL && f.size() < 14 + 40) continue;  // kernel's own minimum, see above
    ASSERT_EQ(r.err, 0) << "frame size " << f.size();
    ASSERT_EQ(r.retval, TC_ACT_OK);
    ++runs;
  }
  EXPECT_GT(runs, 3000);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), static_cast<uint64_t>(runs));
}

// ---- selection ----

TEST_F(TcProgramTest, InterfaceNotEnabledPassesUncounted) {
  uint32_t lo = kLo;
  ASSERT_EQ(bpf_map_delete_elem(bpf_map__fd(skel_->maps.nfr_ifaces), &lo), 0);
  nfr_iface off = {0};
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.nfr_ifidx), &lo, &off, BPF_ANY), 0);
  RunResult r = Run(Syn4());
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, 0u);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 0u);
  EXPECT_EQ(FlowCount(), 0u);
}

// ifindexes past the nfr_ifidx array are looked up in nfr_ifaces.
TEST_F(TcProgramTest, LargeIfindexUsesTheHashMap) {
  std::string error;
  auto ns = ScopedNetns::Enter(&error);
  ASSERT_NE(ns, nullptr) << error;
  constexpr uint32_t kBig = NFR_IFIDX_MAX + 7;
  ASSERT_EQ(Cmd({"ip", "link", "add", "nfrbig", "index", std::to_string(kBig), "type", "veth",
                 "peer", "name", "nfrbig1"}),
            0);
  EXPECT_EQ(Run(Syn4(), Dir::kIngress, 0, kBig).mark, 0u);  // not enabled: passes unmarked
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 0u);
  EnableIface(kBig, NFR_IF_INGRESS);
  EXPECT_EQ(Run(Syn4(), Dir::kIngress, 0, kBig).mark, kMark);
  EXPECT_EQ(Stat(NFR_STAT_TO_COMPAT), 1u);
}

TEST_F(TcProgramTest, InterfaceDirectionFlags) {
  EnableIface(kLo, NFR_IF_EGRESS);
  RunResult r = Run(Syn4());
  EXPECT_EQ(r.mark, 0u);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 0u);
  r = Run(Syn4(), Dir::kEgress);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 1u);
  EnableIface(kLo, NFR_IF_INGRESS);
  r = Run(Syn4(2), Dir::kEgress);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 1u);
}

TEST_F(TcProgramTest, UnselectedProtocolPasses) {
  SetByte(skel_->maps.nfr_sel_proto, IPPROTO_UDP, 0);
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 53))), NFR_STAT_UNSELECTED);
  ExpectSentUp(Syn4(), Key4(IPPROTO_TCP, kA, 40000, kB, 80));
}

TEST_F(TcProgramTest, DestinationPortFilter) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_PORT_FILTER);
  SetByte(skel_->maps.nfr_sel_ports, 443, 1);
  ExpectSentUp(Syn4(1, 443), Key4(IPPROTO_TCP, kA, 1, kB, 443));
  ExpectPassedQuietly(Syn4(1, 80), NFR_STAT_UNSELECTED);
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 444))), NFR_STAT_UNSELECTED);
  // ICMP has no ports: the port filter does not apply to it.
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_ICMP, kA, kB, Icmp(8, 9))),
               Key4(IPPROTO_ICMP, kA, 9, kB, 0));
}

TEST_F(TcProgramTest, Ipv4PrefixFilterMatchesSourceOrDestination) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_V4_PREFIX_FILTER);
  AddPrefix4("10.77.1.0", 24);
  ExpectSentUp(Syn4(), Key4(IPPROTO_TCP, kA, 40000, kB, 80));  // dst in prefix
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_TCP, kB, "192.0.2.1", Tcp(9, 9, kSyn))),
               Key4(IPPROTO_TCP, kB, 9, "192.0.2.1", 9));  // src in prefix
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, "10.77.2.2", Tcp(9, 9, kSyn))),
                      NFR_STAT_UNSELECTED);
  // IPv6 unaffected by the v4 filter flag.
  ExpectSentUp(Syn6(), Key6(IPPROTO_TCP, kA6, 40000, kB6, 80));
}

TEST_F(TcProgramTest, Ipv6PrefixFilter) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_V6_PREFIX_FILTER);
  AddPrefix6("fd77:1::", 64);
  ExpectSentUp(Syn6(), Key6(IPPROTO_TCP, kA6, 40000, kB6, 80));
  ExpectPassedQuietly(Eth(kEthIp6, Ip6(IPPROTO_TCP, kA6, "fd77:2::2", Tcp(1, 80, kSyn))),
                      NFR_STAT_UNSELECTED);
}

// ---- flow cache ----

TEST_F(TcProgramTest, CachedAllowPassesWithoutMark) {
  nfr_flow_key k = Key4(IPPROTO_TCP, kA, 40000, kB, 80);
  PutFlow(k, NFR_VERDICT_ALLOW, 60'000'000'000);
  for (uint8_t flags : {kSyn, kAck, uint8_t(kAck | 0x08)}) {
    RunResult r = Run(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(40000, 80, flags))));
    EXPECT_EQ(r.retval, TC_ACT_OK);
    EXPECT_EQ(r.mark, 0u);
  }
  EXPECT_EQ(Stat(NFR_STAT_CACHE_ALLOW), 3u);
  EXPECT_EQ(RawFlow(k)->verdict, NFR_VERDICT_ALLOW);
}

TEST_F(TcProgramTest, CachedDenyDrops) {
  nfr_flow_key k = Key6(IPPROTO_UDP, kA6, 1, kB6, 53);
  PutFlow(k, NFR_VERDICT_DENY, 60'000'000'000);
  RunResult r = Run(Eth(kEthIp6, Ip6(IPPROTO_UDP, kA6, kB6, Udp(1, 53))));
  EXPECT_EQ(r.retval, TC_ACT_SHOT);
  EXPECT_EQ(Stat(NFR_STAT_CACHE_DENY), 1u);
}

TEST_F(TcProgramTest, PendingFlowSendsEveryPacketUp) {
  nfr_flow_key k = Key4(IPPROTO_TCP, kA, 40000, kB, 80);
  PutFlow(k, NFR_VERDICT_PENDING, 60'000'000'000);
  RunResult r =
      Run(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(40000, 80, kAck))), Dir::kIngress, 0x5);
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, kMark | 0x5) << "compat mark is OR-ed into the existing mark";
  EXPECT_EQ(Stat(NFR_STAT_CACHE_PENDING), 1u);
  EXPECT_EQ(Stat(NFR_STAT_TO_COMPAT), 1u);
}

TEST_F(TcProgramTest, ExpiredEntriesAreMisses) {
  nfr_flow_key k = Key4(IPPROTO_TCP, kA, 40000, kB, 80);
  // The program reads the coarse clock (up to one tick, <= 10 ms, behind): expired 20 ms ago.
  PutFlow(k, NFR_VERDICT_DENY, -20'000'000);
  // A non-new packet of an expired flow passes and leaves the entry alone.
  RunResult r = Run(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(40000, 80, kAck))));
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(RawFlow(k)->verdict, NFR_VERDICT_DENY);
  // A new one replaces it with a fresh pending entry.
  ExpectSentUp(Syn4(), k);
  EXPECT_EQ(Stat(NFR_STAT_CACHE_DENY), 0u);
}

TEST_F(TcProgramTest, UdpRepliesGetTheVerdictOfAnEntryThatCoversThem) {
  // kA:5353 -> kB:53 accepted with NFR_FLOW_F_REPLIES: kB's answers pass, no entry of their own.
  PutFlow(Key4(IPPROTO_UDP, kA, 5353, kB, 53), NFR_VERDICT_ALLOW, 60'000'000'000,
          NFR_FLOW_F_REPLIES);
  ExpectPassedQuietly(Eth(kEthIp, Ip4(IPPROTO_UDP, kB, kA, Udp(53, 5353))), NFR_STAT_CACHE_ALLOW);
  // Denied later (operator, re-evaluation): the answers are dropped with it.
  PutFlow(Key6(IPPROTO_UDP, kA6, 7, kB6, 53), NFR_VERDICT_DENY, 60'000'000'000,
          NFR_FLOW_F_REPLIES);
  RunResult r = Run(Eth(kEthIp6, Ip6(IPPROTO_UDP, kB6, kA6, Udp(53, 7))));
  EXPECT_EQ(r.retval, TC_ACT_SHOT);
  EXPECT_EQ(Stat(NFR_STAT_CACHE_DENY), 1u);
  // An entry of the answer's own wins over the one it answers.
  PutFlow(Key4(IPPROTO_UDP, kB, 53, kA, 5353), NFR_VERDICT_DENY, 60'000'000'000);
  EXPECT_EQ(Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kB, kA, Udp(53, 5353)))).retval, TC_ACT_SHOT);
}

TEST_F(TcProgramTest, UdpRepliesOfEntriesWithoutTheFlagAreNewFlows) {
  // Without NFR_FLOW_F_REPLIES (a denied flow, a TCP entry, an expired or pending one) the
  // reversed packet is a new flow of its own.
  PutFlow(Key4(IPPROTO_UDP, kA, 1, kB, 2), NFR_VERDICT_ALLOW, 60'000'000'000);
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kB, kA, Udp(2, 1))), Key4(IPPROTO_UDP, kB, 2, kA, 1));
  PutFlow(Key4(IPPROTO_UDP, kA, 3, kB, 4), NFR_VERDICT_ALLOW, -20'000'000, NFR_FLOW_F_REPLIES);
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kB, kA, Udp(4, 3))), Key4(IPPROTO_UDP, kB, 4, kA, 3));
  PutFlow(Key4(IPPROTO_UDP, kA, 5, kB, 6), NFR_VERDICT_PENDING, 60'000'000'000,
          NFR_FLOW_F_REPLIES);
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, kB, kA, Udp(6, 5))), Key4(IPPROTO_UDP, kB, 6, kA, 5));
  PutFlow(Key4(IPPROTO_TCP, kA, 7, kB, 8), NFR_VERDICT_ALLOW, 60'000'000'000, NFR_FLOW_F_REPLIES);
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_TCP, kB, kA, Tcp(8, 7, kSyn))),
               Key4(IPPROTO_TCP, kB, 8, kA, 7));
  EXPECT_EQ(Stat(NFR_STAT_CACHE_ALLOW), 0u);
}

TEST_F(TcProgramTest, ZeroExpiryNeverExpires) {
  nfr_flow_key k = Key4(IPPROTO_UDP, kA, 1, kB, 2);
  PutFlow(k, NFR_VERDICT_ALLOW, 0);
  RunResult r = Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 2))));
  EXPECT_EQ(r.mark, 0u);
  EXPECT_EQ(Stat(NFR_STAT_CACHE_ALLOW), 1u);
}

TEST_F(TcProgramTest, PendingEntryExpiresAfterTtl) {
  SetConfig(NFR_MODE_COMPAT, 0, /*pending_ttl_ms=*/100);
  nfr_flow_key k = Key4(IPPROTO_TCP, kA, 40000, kB, 80);
  uint64_t t0 = datapath::MonotonicNowNs();
  ExpectSentUp(Syn4(), k);
  uint64_t t1 = datapath::MonotonicNowNs();
  auto v = RawFlow(k);
  EXPECT_GE(v->expires_ns, t0 + 100'000'000);
  EXPECT_LE(v->expires_ns, t1 + 100'000'000);
  Bytes ack = Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(40000, 80, kAck)));
  EXPECT_EQ(Run(ack).mark, kMark);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(Run(ack).mark, 0u) << "expired pending entry must no longer send packets up";
}

TEST_F(TcProgramTest, PendingEntryRecordsInterfaceAndDirection) {
  constexpr uint32_t kIf = kLo;  // BPF_PROG_TEST_RUN needs an existing device
  ASSERT_EQ(Run(Syn4(1000), Dir::kIngress, 0, kIf).err, 0);
  ASSERT_EQ(Run(Syn4(1001), Dir::kEgress, 0, kIf).err, 0);
  auto in = RawFlow(Key4(IPPROTO_TCP, kA, 1000, kB, 80));
  auto out = RawFlow(Key4(IPPROTO_TCP, kA, 1001, kB, 80));
  ASSERT_TRUE(in.has_value() && out.has_value());
  EXPECT_EQ(in->verdict, uint32_t{NFR_VERDICT_PENDING});
  EXPECT_EQ(in->origin, NFR_ORIGIN_NONE);
  EXPECT_EQ(in->ifindex, kIf);
  EXPECT_EQ(in->direction, NFR_DIR_INGRESS);
  EXPECT_EQ(out->ifindex, kIf);
  EXPECT_EQ(out->direction, NFR_DIR_EGRESS);
  EXPECT_EQ(in->rule, 0u);
  EXPECT_EQ(in->origin_id, 0u);
  EXPECT_EQ(in->flags, 0u);
}

// ---- per-source new-flow budget ----

// One source floods new flows: the first `burst` go up, the rest get the default verdict in the
// kernel without a cache entry; another source is not affected.
TEST_F(TcProgramTest, FloodingSourceIsCutAtItsBudgetOthersStillGetThrough) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_DEFAULT_DROP, 5000, /*rate=*/1, /*burst=*/5);
  int up = 0, dropped = 0;
  for (uint16_t port = 1; port <= 50; ++port) {
    RunResult r = Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(port, 53))));
    ASSERT_EQ(r.err, 0);
    if (r.retval == TC_ACT_OK && (r.mark & kMark)) ++up;
    if (r.retval == TC_ACT_SHOT) ++dropped;
  }
  EXPECT_EQ(up, 5);
  EXPECT_EQ(dropped, 45);
  EXPECT_EQ(Stat(NFR_STAT_BUDGET_EXCEEDED), 45u);
  EXPECT_EQ(Stat(NFR_STAT_TO_COMPAT), 5u);
  EXPECT_EQ(FlowCount(), 5u) << "over-budget flows leave no cache entry";
  // The other source still gets its new flows up.
  ExpectSentUp(Eth(kEthIp, Ip4(IPPROTO_UDP, "10.77.0.3", kB, Udp(9, 53))),
               Key4(IPPROTO_UDP, "10.77.0.3", 9, kB, 53));
  // Packets of the flooder's flows that already went up are not charged again.
  RunResult r = Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 53))));
  EXPECT_EQ(r.mark & kMark, kMark);
  EXPECT_EQ(Stat(NFR_STAT_CACHE_PENDING), 1u);
  EXPECT_EQ(Stat(NFR_STAT_BUDGET_EXCEEDED), 45u);
}

TEST_F(TcProgramTest, OverBudgetGetsAcceptWhenTheDefaultVerdictIsAccept) {
  SetConfig(NFR_MODE_COMPAT, 0, 5000, /*rate=*/1, /*burst=*/1);
  ExpectSentUp(Syn4(1), Key4(IPPROTO_TCP, kA, 1, kB, 80));
  RunResult r = Run(Syn4(2));
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, 0u) << "passed in the kernel, not sent up";
  EXPECT_EQ(Stat(NFR_STAT_BUDGET_EXCEEDED), 1u);
  EXPECT_FALSE(RawFlow(Key4(IPPROTO_TCP, kA, 2, kB, 80)).has_value());
}

TEST_F(TcProgramTest, BudgetIsPerSlash64ForIpv6) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_DEFAULT_DROP, 5000, /*rate=*/1, /*burst=*/1);
  ExpectSentUp(Syn6(1), Key6(IPPROTO_TCP, kA6, 1, kB6, 80));
  // Same /64, other interface id: shares the bucket.
  EXPECT_EQ(Run(Eth(kEthIp6, Ip6(IPPROTO_TCP, "fd77::99", kB6, Tcp(2, 80, kSyn)))).retval,
            TC_ACT_SHOT);
  // Another /64: its own bucket.
  ExpectSentUp(Eth(kEthIp6, Ip6(IPPROTO_TCP, "fd77:0:0:1::2", kB6, Tcp(3, 80, kSyn))),
               Key6(IPPROTO_TCP, "fd77:0:0:1::2", 3, kB6, 80));
  EXPECT_EQ(Stat(NFR_STAT_BUDGET_EXCEEDED), 1u);
}

TEST_F(TcProgramTest, BudgetRefillsAtItsRate) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_DEFAULT_DROP, 5000, /*rate=*/10, /*burst=*/2);
  auto send = [&](uint16_t port) {
    return Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(port, 53)))).retval == TC_ACT_OK;
  };
  uint16_t port = 1;
  int up = 0;
  for (int i = 0; i < 10; ++i) up += send(port++);
  EXPECT_EQ(up, 2);
  // 10 per second: after 350 ms about 3 more (never the whole window's worth of 10).
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  up = 0;
  for (int i = 0; i < 10; ++i) up += send(port++);
  EXPECT_GE(up, 2);
  EXPECT_LE(up, 4);
}

TEST_F(TcProgramTest, NoBudgetWhenRateIsZero) {
  for (uint16_t port = 1; port <= 200; ++port) {
    ASSERT_EQ(Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(port, 53)))).mark & kMark, kMark);
  }
  EXPECT_EQ(Stat(NFR_STAT_BUDGET_EXCEEDED), 0u);
}

// ---- pathways ----

TEST_F(TcProgramTest, NativeModeOnStockKernelFallsBackToCompatMark) {
  SetConfig(NFR_MODE_NATIVE, 0);
  RunResult r = Run(Syn4());
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, kMark);
  EXPECT_EQ(Stat(NFR_STAT_NATIVE_REFUSED), 1u);
  EXPECT_EQ(Stat(NFR_STAT_TO_NATIVE), 0u);
  EXPECT_EQ(Stat(NFR_STAT_TO_COMPAT), 1u);
}

TEST_F(TcProgramTest, NativeRefusedOnEgressHasNoPathway) {
  SetConfig(NFR_MODE_NATIVE, 0);
  RunResult r = Run(Syn4(), Dir::kEgress);
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, 0u);
  EXPECT_EQ(Stat(NFR_STAT_NATIVE_REFUSED), 1u);
  EXPECT_EQ(Stat(NFR_STAT_NO_PATHWAY), 1u);
}

TEST_F(TcProgramTest, CompatEgressFailsOpenOrClosed) {
  RunResult r = Run(Syn4(), Dir::kEgress);
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(Stat(NFR_STAT_NO_PATHWAY), 1u);
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_FAIL_CLOSED);
  r = Run(Syn4(41000), Dir::kEgress);
  EXPECT_EQ(r.retval, TC_ACT_SHOT);
  EXPECT_EQ(Stat(NFR_STAT_FAIL_CLOSED_DROP), 1u);
}

TEST_F(TcProgramTest, ModeOffPassesEverything) {
  SetConfig(NFR_MODE_OFF, 0);
  RunResult r = Run(Syn4());
  EXPECT_EQ(r.retval, TC_ACT_OK);
  EXPECT_EQ(r.mark, 0u);
  EXPECT_EQ(Stat(NFR_STAT_PACKETS), 0u);
  EXPECT_EQ(FlowCount(), 0u);
}

TEST_F(TcProgramTest, ProbeRefusedOnStockKernel) {
  RunResult r = RunProg(bpf_program__fd(skel_->progs.nfr_probe), Syn4());
  ASSERT_EQ(r.err, 0);
  bool patched = access("/proc/sys/net/core/tc_nf_redirect", F_OK) == 0;
  EXPECT_EQ(r.retval, patched ? TC_ACT_REDIRECT : TC_ACT_SHOT);
}

TEST_F(TcProgramTest, AllStatsCountedOverMixedTraffic) {
  SetConfig(NFR_MODE_COMPAT, NFR_CFG_PORT_FILTER);
  SetByte(skel_->maps.nfr_sel_ports, 80, 1);
  PutFlow(Key4(IPPROTO_UDP, kA, 1, kB, 1), NFR_VERDICT_ALLOW, 60'000'000'000);
  PutFlow(Key4(IPPROTO_UDP, kA, 2, kB, 2), NFR_VERDICT_DENY, 60'000'000'000);
  Run(Eth(kEthArp, Bytes(28, 0)));                               // NOT_IP
  Run(Syn4(1, 81));                                              // UNSELECTED
  Run(Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(1, 80, kAck))));  // NOT_NEW
  Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(1, 1))));         // CACHE_ALLOW
  Run(Eth(kEthIp, Ip4(IPPROTO_UDP, kA, kB, Udp(2, 2))));         // CACHE_DENY
  Run(Syn4(1, 80));                                              // TO_COMPAT
  Run(Syn4(1, 80));                                              // CACHE_PENDING
  std::vector<uint64_t> s = datapath::ReadStats(bpf_map__fd(skel_->maps.nfr_stats));
  EXPECT_EQ(s[NFR_STAT_PACKETS], 7u);
  EXPECT_EQ(s[NFR_STAT_NOT_IP], 1u);
  EXPECT_EQ(s[NFR_STAT_UNSELECTED], 1u);
  EXPECT_EQ(s[NFR_STAT_NOT_NEW], 1u);
  EXPECT_EQ(s[NFR_STAT_CACHE_ALLOW], 1u);
  EXPECT_EQ(s[NFR_STAT_CACHE_DENY], 1u);
  EXPECT_EQ(s[NFR_STAT_CACHE_PENDING], 1u);
  EXPECT_EQ(s[NFR_STAT_TO_COMPAT], 2u);
}

// Prints the program's cost on the cached fast path (BPF_PROG_TEST_RUN average; informative, the
// figure is not asserted) and checks the verdict of every repetition stays the cached one.
TEST_F(TcProgramTest, CachedAllowFastPathCostPrinted) {
  nfr_flow_key k = Key4(IPPROTO_TCP, kA, 40000, kB, 80);
  PutFlow(k, NFR_VERDICT_ALLOW, 60'000'000'000);
  Bytes frame = Eth(kEthIp, Ip4(IPPROTO_TCP, kA, kB, Tcp(40000, 80, kAck)));
  constexpr uint32_t kRepeat = 200000;
  __sk_buff in = {};
  in.ifindex = kLo;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &in,
              .ctx_size_in = sizeof(in), .repeat = kRepeat);
  ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.nfr_ingress), &opts), 0);
  EXPECT_EQ(opts.retval, uint32_t{TC_ACT_OK});
  EXPECT_EQ(Stat(NFR_STAT_CACHE_ALLOW), uint64_t{kRepeat});
  std::cout << "[ fast path ] cached allow: " << opts.duration << " ns per run (test_run)\n";
  RecordProperty("cached_allow_ns", std::to_string(opts.duration));
}

// Loads on this kernel; prints what the verifier processed (the 6.1 limit is 1M insns).
TEST_F(TcProgramTest, VerifierInstructionCounts) {
  for (bpf_program* p :
       {skel_->progs.nfr_ingress, skel_->progs.nfr_egress, skel_->progs.nfr_probe}) {
    bpf_prog_info info = {};
    uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len), 0);
    std::cout << "[ verifier ] " << bpf_program__name(p) << ": xlated " << info.xlated_prog_len / 8
              << " insns, verified_insns " << info.verified_insns << "\n";
    RecordProperty(std::string(bpf_program__name(p)) + "_verified_insns",
                   std::to_string(info.verified_insns));
    EXPECT_LT(info.verified_insns, 1'000'000u);
  }
}

}  // namespace
}  // namespace nfr::test
