// Named sets: matching, validation, deltas and the import file format.
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/str_cat.h"
#include "agent/policy/compiled_policy.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/set_delta.h"
#include "agent/policy/set_file.h"
#include "gtest/gtest.h"

namespace nfr {
namespace {

nfr::v1::Policy PolicyFromText(const std::string& text) {
  nfr::v1::Policy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

std::string ErrorOf(const std::string& text) {
  auto s = ValidatePolicy(PolicyFromText(text));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(s.message());
}

PacketInfo Udp(uint8_t family, std::array<uint8_t, 16> src, std::array<uint8_t, 16> dst,
               uint16_t dport) {
  PacketInfo p;
  p.family = family;
  p.protocol = 17;
  p.src = src;
  p.dst = dst;
  p.has_ports = true;
  p.src_port = 40000;
  p.dst_port = dport;
  return p;
}

TEST(PolicySets, LoadFromJsonAndMatch) {
  nfr::v1::Policy policy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(R"json({
    "sets": {
      "blocklist": {"prefixes": ["203.0.113.0/24", "2001:db8:bad::/48", "198.51.100.7"]},
      "dns": {"ports": [{"first": 53}, {"first": 853}]},
      "empty": {}
    },
    "rules": [
      {"id": "never", "src_set": "empty", "action": "ACTION_ACCEPT"},
      {"id": "block", "dst_set": "blocklist", "action": "ACTION_DROP"},
      {"id": "dns", "protocol": "PROTOCOL_UDP", "dst_port_set": "dns", "action": "ACTION_ACCEPT"}
    ],
    "default_verdict": "VERDICT_DROP"
  })json",
                                                          &policy)
                  .ok());
  auto c = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::array<uint8_t, 16> src{10, 0, 0, 1};
  auto m = (*c)->Match(Udp(4, src, {203, 0, 113, 9}, 53), "x", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "block");
  EXPECT_EQ(m.rule_index, 1);
  m = (*c)->Match(Udp(4, src, {198, 51, 100, 7}, 53), "x", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "block");
  m = (*c)->Match(Udp(4, src, {198, 51, 100, 8}, 53), "x", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "dns");
  m = (*c)->Match(Udp(6, src, {0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad, 0, 0, 1}, 853), "x",
                  nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "block");
  m = (*c)->Match(Udp(4, src, {198, 51, 100, 8}, 54), "x", nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "");
  EXPECT_EQ(m.rule_index, -1);
}

// A compiled policy keeps set prefixes packed, not as proto strings; FullPolicy
// gives them back exactly as written (order, spelling), every other field too.
TEST(PolicySets, CompiledPolicyGivesSetsBackAsWritten) {
  nfr::v1::Policy policy = PolicyFromText(R"pb(
    version: 7
    default_verdict: VERDICT_DROP
    sets {
      key: "block"
      value { prefixes: [ "198.51.100.7", "2001:DB8:0:0::/64", "10.0.0.0/8", "::/0" ] }
    }
    sets {
      key: "unused"
      value { prefixes: "192.0.2.0/24" }
    }
    sets {
      key: "dns"
      value {
        ports { first: 53 }
        ports { first: 853 last: 860 }
      }
    }
    sets {
      key: "empty"
      value {}
    }
    rules { id: "b" dst_set: "block" action: ACTION_DROP }
    rules { id: "d" protocol: PROTOCOL_UDP dst_port_set: "dns" action: ACTION_ACCEPT }
  )pb");
  auto c = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->policy().sets().at("block").prefixes().empty()) << "not held twice";
  EXPECT_EQ((*c)->policy().sets().at("dns").ports_size(), 2);
  EXPECT_EQ((*c)->version(), 7u);
  const nfr::v1::Policy full = (*c)->FullPolicy();
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(policy, full)) << diff;
  auto again = CompiledPolicy::Compile(full);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->FullPolicy().sets().at("block").prefixes(3), "::/0");
}

TEST(PolicySets, ValidationNamesTheFieldRuleAndSet) {
  const std::string base = "default_verdict: VERDICT_DROP ";
  EXPECT_EQ(ErrorOf(base + R"pb(rules { id: "a" action: ACTION_ACCEPT }
                                rules { id: "web" dst_set: "blocklst" action: ACTION_DROP })pb"),
            "rules[1].dst_set: rule \"web\" refers to set \"blocklst\", which is not defined; add "
            "it to sets or fix the name");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "bl"
                                  value { prefixes: "10.0.0.0/8" prefixes: "10.1.1.1/16" }
                                })pb"),
            "sets[\"bl\"].prefixes[1]: \"10.1.1.1/16\" has host bits set; use 10.1.0.0/16");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "bad name"
                                  value {}
                                })pb"),
            "sets[\"bad name\"]: \"bad name\" is not a valid set name; use 1..64 characters of "
            "[A-Za-z0-9_.-]");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "mixed"
                                  value {
                                    prefixes: "10.0.0.0/8"
                                    ports { first: 1 }
                                  }
                                })pb"),
            "sets[\"mixed\"]: a set holds prefixes or ports, not both; split it into two sets");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "p"
                                  value { ports { first: 80 } }
                                }
                                rules { id: "a" src_set: "p" action: ACTION_DROP })pb"),
            "rules[0].src_set: set \"p\" holds ports, not prefixes; use it in src_port_set or "
            "dst_port_set");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "n"
                                  value { prefixes: "10.0.0.0/8" }
                                }
                                rules { id: "a" dst_port_set: "n" action: ACTION_DROP })pb"),
            "rules[0].dst_port_set: set \"n\" holds prefixes, not ports; use it in src_set or "
            "dst_set");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "n"
                                  value {}
                                }
                                rules {
                                  id: "a"
                                  dst_prefixes: "10.0.0.0/8"
                                  dst_set: "n"
                                  action: ACTION_DROP
                                })pb"),
            "rules[0].dst_set: a rule takes dst_prefixes or dst_set, not both; move the "
            "dst_prefixes into set \"n\"");
  EXPECT_EQ(ErrorOf(base + R"pb(sets {
                                  key: "q"
                                  value { ports { first: 7 } }
                                }
                                rules {
                                  id: "a"
                                  protocol: PROTOCOL_ICMP
                                  src_port_set: "q"
                                  action: ACTION_DROP
                                })pb"),
            "rules[0].src_port_set: ports need protocol PROTOCOL_TCP or PROTOCOL_UDP, not "
            "PROTOCOL_ICMP; remove the ports or change the protocol");
}

TEST(PolicySets, SizeLimits) {
  nfr::v1::Set set;
  for (int i = 0; i <= kMaxSetPrefixes; ++i) set.add_prefixes("10.0.0.0/8");
  EXPECT_EQ(std::string(ValidateSet("big", set, "sets[\"big\"]").message()),
            absl::StrCat("sets[\"big\"].prefixes: ", kMaxSetPrefixes + 1,
                         " prefixes exceed the limit of ", kMaxSetPrefixes, "; split the set"));
  set.mutable_prefixes()->RemoveLast();
  EXPECT_TRUE(ValidateSet("big", set, "sets[\"big\"]").ok());
  nfr::v1::Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_DROP);
  for (int i = 0; i <= kMaxSets; ++i) (*p.mutable_sets())[absl::StrCat("s", i)];
  EXPECT_EQ(std::string(ValidatePolicy(p).message()).rfind("sets: 65 sets exceed", 0), 0u);
}

TEST(SetDelta, AddsRemovesAndCounts) {
  nfr::v1::Policy policy = PolicyFromText(R"pb(
    sets {
      key: "bl"
      value { prefixes: "10.0.0.0/8" prefixes: "192.0.2.1/32" prefixes: "fd00::/8" }
    }
    sets {
      key: "ports"
      value { ports { first: 22 } }
    }
    rules { id: "a" src_set: "bl" action: ACTION_DROP }
    default_verdict: VERDICT_ACCEPT)pb");
  auto r = ApplySetDelta(policy, "bl", {"192.0.2.2", "10.0.0.0/8", "192.0.2.2/32", "fd00::/8"},
                         {"192.0.2.1", "198.51.100.0/24", "fd00::/8"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->added, 2);  // 192.0.2.2/32 and the re-added fd00::/8
  EXPECT_EQ(r->already_present, 2);
  EXPECT_EQ(r->removed, 2);
  EXPECT_EQ(r->absent, 1);
  EXPECT_EQ(r->size, 3);
  const auto& got = policy.sets().at("bl").prefixes();
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.end()),
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.2/32", "fd00::/8"}));
  auto c = CompiledPolicy::Compile(policy);
  ASSERT_TRUE(c.ok()) << c.status();
  PacketInfo p = Udp(4, {192, 0, 2, 2}, {1, 1, 1, 1}, 1);
  EXPECT_EQ((*c)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "a");
  p.src = {192, 0, 2, 1};
  EXPECT_EQ((*c)->Match(p, "x", nfr::v1::DIRECTION_INGRESS).rule_id, "");

  const nfr::v1::Policy before = policy;
  auto bad = ApplySetDelta(policy, "bl", {"10.0.0.0/8", "10.1.1.1/8"}, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "add[1]: \"10.1.1.1/8\" has host bits set; use 10.0.0.0/8");
  bad = ApplySetDelta(policy, "bl", {}, {"nope"});
  EXPECT_EQ(bad.status().message().rfind("remove[0]: \"nope\" is not a CIDR prefix", 0), 0u);
  bad = ApplySetDelta(policy, "missing", {"10.0.0.0/8"}, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(bad.status().message(),
            "set \"missing\" is not defined; add it to the policy's sets first");
  bad = ApplySetDelta(policy, "ports", {"10.0.0.0/8"}, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(policy, before));  // unchanged
}

TEST(SetFile, ParsesLinesCommentsAndBlanks) {
  auto r = ParseSetFile(
      "# blocklist\n"
      "203.0.113.0/24\n"
      "\n"
      "  2001:db8::1   # one host\r\n"
      "\t198.51.100.0/25\n"
      "#\n",
      "bl.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"203.0.113.0/24", "2001:db8::1/128", "198.51.100.0/25"}));
  EXPECT_TRUE(ParseSetFile("", "e").ok());
}

TEST(SetFile, ErrorsNameTheLine) {
  EXPECT_EQ(ParseSetFile("10.0.0.0/8\n\n# x\n10.1.1.1/8\n", "bl.txt").status().message(),
            "bl.txt:4: \"10.1.1.1/8\" has host bits set; use 10.0.0.0/8");
  EXPECT_EQ(ParseSetFile("10.0.0.0/8 10.2.0.0/16\n", "bl.txt").status().message(),
            "bl.txt:1: \"10.0.0.0/8 10.2.0.0/16\" is not a CIDR prefix; use ADDR/LEN with LEN <= "
            "32");
  EXPECT_EQ(ParseSetFile("a\n", "f").status().message(),
            "f:1: \"a\" is not a CIDR prefix; use ADDR/LEN, e.g. 10.77.0.0/16 or fd77::/64");
}

}  // namespace
}  // namespace nfr
