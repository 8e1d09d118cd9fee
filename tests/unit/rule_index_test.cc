// The indexed matcher against a plain linear first-match scan over random
// policies with heavy overlap (few interfaces, small port and address ranges,
// nested prefixes, sets), and at the edges of the key spaces.
#include <google/protobuf/text_format.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "agent/policy/compiled_policy.h"
#include "agent/policy/index_arena.h"
#include "agent/policy/interval_map.h"
#include "agent/policy/prefix.h"
#include "gtest/gtest.h"

namespace nfr {
namespace {

// Reference semantics, straight from the proto.
bool InPrefixes(const PacketInfo& p, const std::array<uint8_t, 16>& a,
                const google::protobuf::RepeatedPtrField<std::string>& prefixes) {
  for (const auto& text : prefixes) {
    if (ParsePrefix(text)->Contains(p.family, a)) return true;
  }
  return false;
}

bool InPorts(uint16_t port, const google::protobuf::RepeatedPtrField<nfr::v1::PortRange>& ports) {
  for (const auto& r : ports) {
    if (port >= r.first() && port <= (r.last() ? r.last() : r.first())) return true;
  }
  return false;
}

bool RefMatches(const nfr::v1::Policy& policy, const nfr::v1::Rule& r, const PacketInfo& p,
                absl::string_view iface, nfr::v1::Direction dir) {
  if (!r.interface().empty() && r.interface() != iface) return false;
  if (r.direction() != nfr::v1::DIRECTION_ANY && r.direction() != dir) return false;
  if (r.protocol() != 0 && r.protocol() != p.protocol) return false;
  if (!r.src_prefixes().empty() && !InPrefixes(p, p.src, r.src_prefixes())) return false;
  if (!r.dst_prefixes().empty() && !InPrefixes(p, p.dst, r.dst_prefixes())) return false;
  if (!r.src_set().empty() && !InPrefixes(p, p.src, policy.sets().at(r.src_set()).prefixes())) {
    return false;
  }
  if (!r.dst_set().empty() && !InPrefixes(p, p.dst, policy.sets().at(r.dst_set()).prefixes())) {
    return false;
  }
  const bool sports = !r.src_ports().empty() || !r.src_port_set().empty();
  const bool dports = !r.dst_ports().empty() || !r.dst_port_set().empty();
  if ((sports || dports) && !p.has_ports) return false;
  if (!r.src_ports().empty() && !InPorts(p.src_port, r.src_ports())) return false;
  if (!r.dst_ports().empty() && !InPorts(p.dst_port, r.dst_ports())) return false;
  if (!r.src_port_set().empty() &&
      !InPorts(p.src_port, policy.sets().at(r.src_port_set()).ports())) {
    return false;
  }
  if (!r.dst_port_set().empty() &&
      !InPorts(p.dst_port, policy.sets().at(r.dst_port_set()).ports())) {
    return false;
  }
  return true;
}

int RefMatch(const nfr::v1::Policy& policy, const PacketInfo& p, absl::string_view iface,
             nfr::v1::Direction dir) {
  for (int i = 0; i < policy.rules_size(); ++i) {
    if (RefMatches(policy, policy.rules(i), p, iface, dir)) return i;
  }
  return -1;
}

// Values come from small pools so rules and packets collide often.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }

  std::array<uint8_t, 16> Address(uint8_t family) {
    std::array<uint8_t, 16> a{};
    const int edge = Int(0, 40);
    if (edge == 2) a[0] = 0xfe;  // outside the pool
    if (edge == 0) return a;     // 0.0.0.0 / ::
    if (edge == 1) {
      std::fill(a.begin(), a.begin() + (family == 4 ? 4 : 16), 0xff);
      return a;
    }
    if (family == 4) {
      a = {10, static_cast<uint8_t>(Int(0, 1)), static_cast<uint8_t>(Int(0, 3)),
           static_cast<uint8_t>(Int(0, 255))};
    } else {
      a[0] = 0xfd;
      a[1] = static_cast<uint8_t>(Int(0, 1));
      a[7] = static_cast<uint8_t>(Int(0, 3));
      a[15] = static_cast<uint8_t>(Int(0, 255));
    }
    return a;
  }

  std::string PrefixText() {
    Prefix p;
    p.family = Chance(60) ? 4 : 6;
    p.addr = Address(p.family);
    // Mostly narrow prefixes, a few wide ones that nest around them.
    static constexpr int kWide4[] = {0, 8, 15, 16}, kNarrow4[] = {22, 24, 26, 28, 30, 31, 32, 32};
    static constexpr int kWide6[] = {0, 8, 16, 48},
                         kNarrow6[] = {56, 64, 120, 124, 127, 128, 128, 128};
    const bool wide = Chance(4);
    p.len = static_cast<uint8_t>(p.family == 4 ? (wide ? kWide4[Int(0, 3)] : kNarrow4[Int(0, 7)])
                                               : (wide ? kWide6[Int(0, 3)] : kNarrow6[Int(0, 7)]));
    return ParsePrefix(p.ToString(), HostBits::kClear)->ToString();
  }

  uint16_t Port() {
    return Chance(3) ? static_cast<uint16_t>(Chance(50) ? 1 : 65535)
                     : static_cast<uint16_t>(Int(1, 40));
  }

  void AddPorts(google::protobuf::RepeatedPtrField<nfr::v1::PortRange>* ports) {
    for (int n = Int(1, 3); n > 0; --n) {
      auto* r = ports->Add();
      const uint16_t a = Port();
      r->set_first(a);
      // Ranges up to kMaxIndexedPortSpan (32) wide are indexed, wider ones (41 ports, 65535)
      // are checked.
      if (Chance(40)) {
        r->set_last(Chance(10) ? 65535 : [&](int e) {
          return std::min(65535, a + (e == 10 ? 40 : e));
        }(Int(0, 10)));
      }
    }
  }

  nfr::v1::Policy Policy(int num_rules) {
    nfr::v1::Policy policy;
    policy.set_default_verdict(nfr::v1::VERDICT_DROP);
    for (int s = 0; s < 4; ++s) {
      auto& set = (*policy.mutable_sets())[absl::StrCat("p", s)];
      for (int n = Int(0, 60); n > 0; --n) set.add_prefixes(PrefixText());
    }
    for (int s = 0; s < 2; ++s)
      AddPorts((*policy.mutable_sets())[absl::StrCat("q", s)].mutable_ports());
    static constexpr const char* kIfaces[] = {"", "", "a", "b"};
    static constexpr nfr::v1::Protocol kProtos[] = {nfr::v1::PROTOCOL_ANY, nfr::v1::PROTOCOL_ANY,
                                                    nfr::v1::PROTOCOL_TCP, nfr::v1::PROTOCOL_UDP,
                                                    nfr::v1::PROTOCOL_ICMP};
    for (int i = 0; i < num_rules; ++i) {
      auto* r = policy.add_rules();
      r->set_id(absl::StrCat("r", i));
      r->set_action(Chance(50) ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP);
      if (Chance(20)) r->set_interface(kIfaces[Int(0, 3)]);
      if (Chance(20)) r->set_direction(static_cast<nfr::v1::Direction>(Int(0, 2)));
      if (Chance(50)) r->set_protocol(kProtos[Int(0, 4)]);
      for (bool src : {true, false}) {
        if (Chance(15)) {
          (src ? r->mutable_src_set() : r->mutable_dst_set())->assign(absl::StrCat("p", Int(0, 3)));
        } else if (Chance(50)) {
          for (int n = Int(1, 4); n > 0; --n) {
            (src ? r->add_src_prefixes() : r->add_dst_prefixes())->assign(PrefixText());
          }
        }
      }
      // Mostly narrow rules, so that many packets fall through to the default.
      if (r->src_prefixes().empty() && r->src_set().empty() && r->dst_prefixes().empty() &&
          r->dst_set().empty() && !Chance(5)) {
        r->add_dst_prefixes(PrefixText());
      }
      if (r->protocol() == nfr::v1::PROTOCOL_ICMP) continue;
      if (Chance(10))
        r->set_src_port_set(absl::StrCat("q", Int(0, 1)));
      else if (Chance(20))
        AddPorts(r->mutable_src_ports());
      if (Chance(10))
        r->set_dst_port_set(absl::StrCat("q", Int(0, 1)));
      else if (Chance(40))
        AddPorts(r->mutable_dst_ports());
    }
    return policy;
  }

  PacketInfo Packet() {
    PacketInfo p;
    p.family = Chance(60) ? 4 : 6;
    static constexpr uint8_t kProtos[] = {6, 17, 1, 58, 47};
    p.protocol = kProtos[Int(0, 4)];
    p.src = Address(p.family);
    p.dst = Address(p.family);
    if ((p.protocol == 6 || p.protocol == 17) && !Chance(5)) {
      p.has_ports = true;
      p.src_port = Chance(2) ? 0 : Port();
      p.dst_port = Port();
    }
    return p;
  }

  std::string Iface() { return std::vector<std::string>{"a", "b", "c"}[Int(0, 2)]; }
  nfr::v1::Direction Direction() { return static_cast<nfr::v1::Direction>(Int(0, 2)); }

 private:
  std::mt19937 rng_;
};

TEST(RuleIndex, AgreesWithALinearScanOnRandomPolicies) {
  Generator gen(20261129);
  int matched = 0, deep = 0, total = 0;
  for (int round = 0; round < 12; ++round) {
    const int num_rules = round < 4 ? 5 + round * 10 : 400 + round * 150;
    nfr::v1::Policy policy = gen.Policy(num_rules);
    auto compiled = CompiledPolicy::Compile(policy);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    for (int i = 0; i < 1500; ++i) {
      const PacketInfo p = gen.Packet();
      const std::string iface = gen.Iface();
      const nfr::v1::Direction dir = gen.Direction();
      const int want = RefMatch(policy, p, iface, dir);
      const PolicyMatch got = (*compiled)->Match(p, iface, dir);
      ASSERT_EQ(got.rule_index, want)
          << "round " << round << " packet " << i << " family " << int{p.family} << " proto "
          << int{p.protocol} << " ports " << p.src_port << "->" << p.dst_port << " iface " << iface
          << " dir " << dir;
      if (want >= 0) {
        ASSERT_EQ(got.rule_id, policy.rules(want).id());
        ++matched;
        if (want >= 100) ++deep;
      } else {
        ASSERT_EQ(got.rule_id, "");
      }
      ++total;
    }
  }
  // The generator must exercise both outcomes, and matches deep in the list.
  EXPECT_GT(matched, total / 10);
  EXPECT_GT(total - matched, total / 50);
  EXPECT_GT(deep, total / 50);
}

TEST(RuleIndex, KeySpaceEdges) {
  auto compiled = CompiledPolicy::Compile([] {
    nfr::v1::Policy p;
    p.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
    auto add = [&](const char* id, const char* dst, int port) {
      auto* r = p.add_rules();
      r->set_id(id);
      r->set_action(nfr::v1::ACTION_DROP);
      if (dst) r->add_dst_prefixes(dst);
      if (port) r->add_dst_ports()->set_first(port);
    };
    add("top4", "255.255.255.255", 0);
    add("top6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 0);
    add("zero4", "0.0.0.0/32", 0);
    add("port-max", nullptr, 65535);
    add("all4", "0.0.0.0/0", 0);
    return p;
  }());
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  PacketInfo p;
  p.family = 4;
  p.protocol = 17;
  p.dst.fill(0);
  std::fill(p.dst.begin(), p.dst.begin() + 4, 0xff);
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "top4");
  p.dst.fill(0);
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "zero4");
  p.dst[3] = 1;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "all4");
  p.family = 6;
  p.dst.fill(0xff);
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "top6");
  p.dst[15] = 0xfe;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_index, -1);
  p.has_ports = true;
  p.dst_port = 65535;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "port-max");
}

// Rules with wide port ranges are checked after their other fields agree; the
// first match must not change: a checked rule alone in its group, behind and
// ahead of indexed ones, identical rules (the first wins), v4 and v6, no ports.
TEST(RuleIndex, WidePortRangesKeepFirstMatch) {
  nfr::v1::Policy policy;
  policy.set_default_verdict(nfr::v1::VERDICT_DROP);
  auto add = [&](const char* id, int proto, const char* dst, int first, int last, int sfirst = 0,
                 int slast = 0) {
    auto* r = policy.add_rules();
    r->set_id(id);
    r->set_action(nfr::v1::ACTION_ACCEPT);
    r->set_protocol(static_cast<nfr::v1::Protocol>(proto));
    if (dst) r->add_dst_prefixes(dst);
    if (first) {
      auto* pr = r->add_dst_ports();
      pr->set_first(first);
      pr->set_last(last);
    }
    if (sfirst) {
      auto* pr = r->add_src_ports();
      pr->set_first(sfirst);
      pr->set_last(slast);
    }
  };
  add("wide-only", 0, nullptr, 1000, 1999);      // group 0, checked
  add("wide-only-tie", 0, nullptr, 1000, 1999);  // never: the same as the rule above
  add("v4-wide", 6, "10.0.0.0/8", 100, 60000);   // checked
  add("v4-narrow", 6, "10.1.0.0/16", 443, 443);  // indexed
  add("v6-wide-sport", 17, "2001:db8::/32", 53, 53, 1024, 65535);  // sport checked, dport indexed
  add("span-32", 6, "10.2.0.0/16", 7000, 7031);  // exactly kMaxIndexedPortSpan: indexed
  add("span-33", 6, "10.2.0.0/16", 7000, 7032);  // checked
  add("catch-tcp", 6, nullptr, 0, 0);
  auto c = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(c.ok()) << c.status();
  auto match = [&](uint8_t family, std::array<uint8_t, 16> dst, uint8_t proto, int dport,
                   int sport = 40000) {
    PacketInfo p;
    p.family = family;
    p.protocol = proto;
    p.dst = dst;
    p.has_ports = dport >= 0;
    p.dst_port = static_cast<uint16_t>(dport < 0 ? 0 : dport);
    p.src_port = static_cast<uint16_t>(sport);
    const int got = (*c)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_index;
    EXPECT_EQ(got, RefMatch(policy, p, "x", nfr::v1::DIRECTION_INGRESS));
    return got < 0 ? std::string() : policy.rules(got).id();
  };
  const std::array<uint8_t, 16> ten{10, 1, 2, 3}, ten2{10, 2, 0, 1}, other{192, 0, 2, 1};
  const std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(match(4, other, 17, 1500), "wide-only");
  EXPECT_EQ(match(4, other, 17, 999), "");
  EXPECT_EQ(match(4, other, 6, 2000), "catch-tcp");
  EXPECT_EQ(match(4, ten, 6, 443), "v4-wide");
  EXPECT_EQ(match(4, ten, 6, 50), "catch-tcp");
  EXPECT_EQ(match(4, ten, 6, -1), "catch-tcp") << "no ports: no port rule matches";
  EXPECT_EQ(match(4, ten, 17, -1), "");
  EXPECT_EQ(match(6, v6, 17, 53, 5000), "v6-wide-sport");
  EXPECT_EQ(match(6, v6, 17, 53, 1000), "");
  EXPECT_EQ(match(4, ten2, 6, 7031), "v4-wide");
  policy.mutable_rules(2)->set_protocol(nfr::v1::PROTOCOL_UDP);  // v4-wide out of the way
  c = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(match(4, ten2, 6, 7031), "span-32");
  EXPECT_EQ(match(4, ten2, 6, 7032), "span-33");
  EXPECT_EQ(match(4, ten2, 6, 7033), "catch-tcp");
  EXPECT_EQ(match(4, ten, 6, 443), "v4-narrow");
  EXPECT_EQ(match(4, ten, 17, 1200), "wide-only");
}

// Large groups (every rule constrains the same fields), so a group's candidates
// span many words: its shortest list drives the intersection (an address list, or a
// port list when one wide prefix is shared by all) and protocol, direction,
// interface and ports are checked from each candidate's record: inline (<= 2
// ranges) or not, a port set in the group (then its port list is searched), and
// source and destination ports together.
TEST(RuleIndex, RecordsAndShortestListsKeepFirstMatch) {
  Generator gen(9009);
  int matched = 0, total = 0;
  for (int round = 0; round < 6; ++round) {
    nfr::v1::Policy policy;
    policy.set_default_verdict(nfr::v1::VERDICT_DROP);
    gen.AddPorts((*policy.mutable_sets())["q"].mutable_ports());
    const bool shared_prefix = round % 2 == 1;  // all rules in 10.0.0.0/8: ports drive
    for (int i = 0; i < 3000; ++i) {
      auto* r = policy.add_rules();
      r->set_id(absl::StrCat("r", i));
      r->set_action(nfr::v1::ACTION_ACCEPT);
      r->set_protocol(gen.Chance(50) ? nfr::v1::PROTOCOL_TCP : nfr::v1::PROTOCOL_UDP);
      r->set_interface(gen.Chance(50) ? "a" : "b");
      r->set_direction(gen.Chance(50) ? nfr::v1::DIRECTION_INGRESS : nfr::v1::DIRECTION_EGRESS);
      r->add_dst_prefixes(shared_prefix ? "10.0.0.0/8" : gen.PrefixText());
      if (round >= 4 && gen.Chance(5)) {
        r->set_dst_port_set("q");
      } else {
        gen.AddPorts(r->mutable_dst_ports());
      }
      if (round >= 2 && gen.Chance(30)) gen.AddPorts(r->mutable_src_ports());
    }
    auto compiled = CompiledPolicy::Compile(policy);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    for (int i = 0; i < 3000; ++i) {
      PacketInfo p = gen.Packet();
      if (shared_prefix && p.family == 4 && gen.Chance(80)) p.dst[0] = 10;
      const std::string iface = gen.Iface();
      const nfr::v1::Direction dir = gen.Direction();
      const int want = RefMatch(policy, p, iface, dir);
      ASSERT_EQ((*compiled)->Match(p, iface, dir).rule_index, want)
          << "round " << round << " packet " << i << " family " << int{p.family} << " proto "
          << int{p.protocol} << " ports " << p.src_port << "->" << p.dst_port << " iface " << iface
          << " dir " << dir;
      matched += want >= 0;
      ++total;
    }
  }
  EXPECT_GT(matched, total / 20);
  EXPECT_LT(matched, total - total / 20);
}

TEST(RuleIndex, ManyRulesStayExact) {
  // 100k host rules plus a catch-all: the last rules and the fall-through must still be right.
  nfr::v1::Policy policy;
  policy.set_default_verdict(nfr::v1::VERDICT_DROP);
  for (int i = 0; i < 100000; ++i) {
    auto* r = policy.add_rules();
    r->set_id(absl::StrCat("h", i));
    r->set_protocol(nfr::v1::PROTOCOL_TCP);
    r->add_dst_prefixes(absl::StrCat("10.", i >> 16, ".", (i >> 8) & 255, ".", i & 255));
    r->add_dst_ports()->set_first(1 + i % 1000);
    r->set_action(nfr::v1::ACTION_ACCEPT);
  }
  auto* any = policy.add_rules();
  any->set_id("any-tcp");
  any->set_protocol(nfr::v1::PROTOCOL_TCP);
  any->set_action(nfr::v1::ACTION_ASK);
  auto compiled = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  PacketInfo p;
  p.family = 4;
  p.protocol = 6;
  p.has_ports = true;
  const int i = 99999;
  p.dst = {10, i >> 16, (i >> 8) & 255, i & 255};
  p.dst_port = 1 + i % 1000;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_index, i);
  p.dst_port = 2 + i % 1000;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "any-tcp");
  p.protocol = 17;
  EXPECT_EQ((*compiled)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_index, -1);
}

// Find against a plain search over random partitions: mostly class 0 with narrow
// and wide other intervals (the zero-bucket bitmap must not hide any of them),
// keys at every interval's edges, v4- and v6-sized spans.
template <typename K>
void CheckIntervalMap(uint32_t seed, int bits) {
  std::mt19937_64 rng(seed);
  const K mask = bits >= static_cast<int>(sizeof(K) * 8) ? ~K{0} : (K{1} << bits) - 1;
  auto key = [&] { return static_cast<K>(Uint128{rng()} << 64 | Uint128{rng()}) & mask; };
  for (int round = 0; round < 6; ++round) {
    std::vector<K> points;
    const int n = round == 0 ? 40 : 200 << round;
    for (int i = 0; i < n; ++i) {
      const K k = key();
      points.push_back(k);
      if (rng() % 4 == 0) points.push_back(k + 1);  // one-key intervals
    }
    std::sort(points.begin(), points.end());
    points.erase(std::unique(points.begin(), points.end()), points.end());
    std::vector<K> starts{0};
    std::vector<uint32_t> classes{0};
    for (K p : points) {
      if (p == 0) continue;
      const uint32_t c = rng() % 3 == 0 ? 1 + rng() % 50 : 0;
      if (c == classes.back()) continue;
      starts.push_back(p);
      classes.push_back(c);
    }
    IntervalMap<K> map;
    map.Assign(starts, classes);
    auto want = [&](K k) {
      return classes[std::upper_bound(starts.begin(), starts.end(), k) - starts.begin() - 1];
    };
    std::vector<K> probes{0, mask};
    for (K s : starts) {
      probes.push_back(s);
      if (s != 0) probes.push_back(s - 1);
      probes.push_back(s + 1);
    }
    for (int i = 0; i < 20000; ++i) probes.push_back(key());
    for (K k : probes) {
      k &= mask;
      ASSERT_EQ(map.Find(k), want(k)) << "round " << round << " bits " << bits;
    }
  }
}

TEST(IntervalMap, AgreesWithASearchAcrossZeroBuckets) {
  CheckIntervalMap<uint32_t>(1, 32);
  CheckIntervalMap<uint32_t>(2, 20);
  CheckIntervalMap<Uint128>(3, 128);
  CheckIntervalMap<Uint128>(4, 40);
}

// The arena takes what fits, 2 MiB-aligned; what does not fit comes from the heap
// and is freed there; moving a vector in keeps its contents.
TEST(IndexArena, TakesWhatFitsAndFallsBackToTheHeap) {
  auto arena = IndexArena::Create(64 << 10);
  ASSERT_NE(arena, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(arena->lo()) % IndexArena::kHugePage, 0u);
  auto inside = [&](const void* p) {
    return static_cast<const char*>(p) >= arena->lo() && static_cast<const char*>(p) < arena->hi();
  };
  IndexVector<uint32_t> v;
  for (uint32_t i = 0; i < 10000; ++i) v.push_back(i * 7);
  EXPECT_FALSE(inside(v.data()));
  MoveIntoArena(v, arena.get());
  EXPECT_TRUE(inside(v.data()));
  ASSERT_EQ(v.size(), 10000u);
  for (uint32_t i = 0; i < 10000; ++i) ASSERT_EQ(v[i], i * 7);
  IndexVector<uint64_t> big;
  big.assign(20000, 5);  // 160 KB: more than is left
  MoveIntoArena(big, arena.get());
  EXPECT_FALSE(inside(big.data()));
  EXPECT_EQ(big[19999], 5u);
  IndexVector<uint32_t> copy = v;  // a copy lives on the heap
  EXPECT_FALSE(inside(copy.data()));
  EXPECT_EQ(copy, v);
}

}  // namespace
}  // namespace nfr
