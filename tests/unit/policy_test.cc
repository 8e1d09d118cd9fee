#include <google/protobuf/text_format.h>

#include <thread>

#include "agent/policy/compiled_policy.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/prefix.h"
#include "gtest/gtest.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

using nfr::v1::DIRECTION_EGRESS;
using nfr::v1::DIRECTION_INGRESS;

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

PacketInfo Tcp4(std::initializer_list<uint8_t> src, std::initializer_list<uint8_t> dst,
                uint16_t sport, uint16_t dport) {
  auto bytes = testing::Ipv4(src, dst, 6, testing::TcpHeader(sport, dport, kTcpSyn));
  return *ParsePacket(absl::MakeConstSpan(bytes));
}

TEST(Prefix, ParsesAndMatches) {
  auto p = ParsePrefix("10.77.0.0/16");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->family, 4);
  EXPECT_EQ(p->len, 16);
  EXPECT_EQ(p->ToString(), "10.77.0.0/16");
  std::array<uint8_t, 16> a{10, 77, 200, 1};
  EXPECT_TRUE(p->Contains(4, a));
  a[1] = 78;
  EXPECT_FALSE(p->Contains(4, a));
  EXPECT_FALSE(p->Contains(6, a));

  auto host = ParsePrefix("fd77::1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->len, 128);
  auto odd = ParsePrefix("10.77.0.0/15");
  EXPECT_FALSE(odd.ok());  // host bit 10.77 has bit 16 set
  EXPECT_NE(std::string(odd.status().message()).find("use 10.76.0.0/15"), std::string::npos)
      << odd.status();
  auto v6 = ParsePrefix("fd77:1::/33");
  ASSERT_TRUE(v6.ok());
  std::array<uint8_t, 16> b{0xfd, 0x77, 0, 1, 0x7f};
  EXPECT_TRUE(v6->Contains(6, b));
  b[4] = 0x80;
  EXPECT_FALSE(v6->Contains(6, b));
  EXPECT_TRUE(ParsePrefix("0.0.0.0/0").ok());
  EXPECT_TRUE(ParsePrefix("::/0").ok());
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8", "fd77::/129",
                          "10.0.0.0/8/8", "host", "10.0.0.0 /8"}) {
    EXPECT_FALSE(ParsePrefix(bad).ok()) << bad;
  }
}

TEST(PolicyValidation, AcceptsAGoodPolicy) {
  auto p = PolicyFromText(R"pb(
    rules {
      id: "web"
      protocol: PROTOCOL_TCP
      dst_ports { first: 80 }
      dst_ports { first: 8000 last: 8080 }
      dst_prefixes: "10.77.1.0/24"
      dst_prefixes: "fd77:1::/64"
      action: ACTION_ACCEPT
    }
    rules {
      id: "ask"
      interface: "r-cli"
      direction: DIRECTION_INGRESS
      action: ACTION_ASK
      ttl_seconds: 60
    }
    default_verdict: VERDICT_DROP)pb");
  EXPECT_TRUE(ValidatePolicy(p).ok()) << ValidatePolicy(p);
}

TEST(PolicyValidation, ErrorsNameTheFieldAndTheFix) {
  const std::string base = "default_verdict: VERDICT_DROP ";
  EXPECT_EQ(
      ErrorOf(base + R"pb(rules { id: "a" action: ACTION_ACCEPT }
                          rules { id: "b" action: ACTION_ACCEPT }
                          rules { id: "c" dst_prefixes: "10.0.0.0/33" action: ACTION_ACCEPT })pb"),
      "rules[2].dst_prefixes[0]: \"10.0.0.0/33\" is not a CIDR prefix; use ADDR/LEN with "
      "LEN <= 32");
  EXPECT_EQ(ErrorOf(base + R"pb(rules { id: "a" action: ACTION_ACCEPT }
                                rules { id: "a" action: ACTION_DROP })pb"),
            "rules[1].id: \"a\" is used by an earlier rule; rule ids must be unique");
  EXPECT_EQ(ErrorOf(base + R"pb(rules { id: "a b" action: ACTION_ACCEPT })pb"),
            "rules[0].id: \"a b\" is not a valid rule id; use 1..64 characters of [A-Za-z0-9_.-]");
  EXPECT_EQ(ErrorOf(base + R"pb(rules { id: "a" })pb"),
            "rules[0].action: not set; use ACTION_ACCEPT, ACTION_DROP or ACTION_ASK");
  EXPECT_EQ(ErrorOf(base + R"pb(rules {
                                  id: "a"
                                  protocol: PROTOCOL_TCP
                                  dst_ports { first: 0 }
                                  action: ACTION_ACCEPT
                                })pb"),
            "rules[0].dst_ports[0].first: 0 is not a port; use 1..65535");
  EXPECT_EQ(ErrorOf(base + R"pb(rules {
                                  id: "a"
                                  protocol: PROTOCOL_TCP
                                  src_ports { first: 90 last: 80 }
                                  action: ACTION_ACCEPT
                                })pb"),
            "rules[0].src_ports[0].last: 80 is not a valid range end; use 0 (just first) or "
            "90..65535");
  EXPECT_EQ(ErrorOf(base + R"pb(rules {
                                  id: "a"
                                  protocol: PROTOCOL_ICMP
                                  dst_ports { first: 1 }
                                  action: ACTION_ACCEPT
                                })pb"),
            "rules[0].dst_ports: ports need protocol PROTOCOL_TCP or PROTOCOL_UDP, not "
            "PROTOCOL_ICMP; remove the ports or change the protocol");
  EXPECT_EQ(
      ErrorOf(base +
              R"pb(rules { id: "a" interface: "this-name-is-too-long" action: ACTION_ACCEPT })pb")
          .rfind("rules[0].interface: ", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(base + R"pb(rules { id: "a" src_prefixes: "10.1.1.1/8" action: ACTION_ACCEPT })pb"),
      "rules[0].src_prefixes[0]: \"10.1.1.1/8\" has host bits set; use 10.0.0.0/8");
  EXPECT_EQ(ErrorOf(R"pb(rules { id: "a" action: ACTION_ACCEPT })pb"),
            "default_verdict: not set; use VERDICT_ACCEPT or VERDICT_DROP");
  EXPECT_EQ(
      ErrorOf(base + "pending_timeout_ms: 600001").rfind("pending_timeout_ms: 600001 exceeds", 0),
      0u);

  nfr::v1::Policy unknown_enum = PolicyFromText(base);
  auto* r = unknown_enum.add_rules();
  r->set_id("x");
  r->set_action(nfr::v1::ACTION_ACCEPT);
  r->set_protocol(static_cast<nfr::v1::Protocol>(99));
  EXPECT_EQ(std::string(ValidatePolicy(unknown_enum).message())
                .rfind("rules[0].protocol: unknown value 99", 0),
            0u);

  auto s = ValidatePolicy(PolicyFromText(R"pb(rules { id: "a" })pb"), "policy.");
  EXPECT_EQ(std::string(s.message()).rfind("policy.rules[0].action", 0), 0u) << s;
}

TEST(PolicyValidation, Limits) {
  nfr::v1::Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
  for (int i = 0; i <= kMaxRules; ++i) {
    auto* r = p.add_rules();
    r->set_id("r" + std::to_string(i));
    r->set_action(nfr::v1::ACTION_ACCEPT);
  }
  EXPECT_EQ(std::string(ValidatePolicy(p).message())
                .rfind("rules: " + std::to_string(kMaxRules + 1) + " rules exceed", 0),
            0u)
      << ValidatePolicy(p);
  p.mutable_rules()->RemoveLast();
  EXPECT_TRUE(ValidatePolicy(p).ok());
  for (int i = 0; i <= kMaxPrefixesPerRule; ++i) p.mutable_rules(0)->add_dst_prefixes("10.0.0.0/8");
  EXPECT_EQ(
      std::string(ValidatePolicy(p).message()).rfind("rules[0].dst_prefixes: 257 prefixes", 0), 0u);
}

TEST(CompiledPolicy, FirstMatchWinsAndDefaultApplies) {
  auto compiled = CompiledPolicy::Compile(PolicyFromText(R"pb(
    rules { id: "deny-bad" src_prefixes: "10.77.0.66/32" action: ACTION_DROP ttl_seconds: 10 }
    rules {
      id: "web"
      protocol: PROTOCOL_TCP
      dst_ports { first: 80 }
      dst_ports { first: 8000 last: 8080 }
      action: ACTION_ACCEPT
    }
    rules {
      id: "ssh-egress"
      direction: DIRECTION_EGRESS
      protocol: PROTOCOL_TCP
      dst_ports { first: 22 }
      action: ACTION_ACCEPT
    }
    rules {
      id: "cli-only"
      interface: "r-cli"
      protocol: PROTOCOL_TCP
      src_ports { first: 1000 last: 2000 }
      action: ACTION_ASK
    }
    rules { id: "v6" dst_prefixes: "fd77:1::/64" action: ACTION_ASK }
    default_verdict: VERDICT_DROP
    flow_ttl_seconds: 120)pb"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const auto& c = **compiled;
  EXPECT_EQ(c.flow_ttl(), absl::Seconds(120));
  EXPECT_EQ(c.pending_timeout(), absl::Seconds(5));

  auto m = c.Match(Tcp4({10, 77, 0, 66}, {10, 77, 1, 2}, 5000, 80), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.action, nfr::v1::ACTION_DROP);
  EXPECT_EQ(m.rule_id, "deny-bad");
  EXPECT_EQ(m.ttl, absl::Seconds(10));

  m = c.Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 5000, 8080), "eth0", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "web");
  EXPECT_EQ(m.ttl, absl::Seconds(120));

  m = c.Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 5000, 22), "eth0", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "");
  EXPECT_EQ(m.action, nfr::v1::ACTION_DROP);
  m = c.Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 5000, 22), "eth0", DIRECTION_EGRESS);
  EXPECT_EQ(m.rule_id, "ssh-egress");

  m = c.Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 1500, 9), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "cli-only");
  EXPECT_EQ(m.action, nfr::v1::ACTION_ASK);
  m = c.Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 1500, 9), "r-srv", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "");

  auto v6 = testing::Ipv6(testing::kV6Src, testing::kV6Dst, 17, {}, testing::UdpHeader(1, 53));
  m = c.Match(*ParsePacket(absl::MakeConstSpan(v6)), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "v6");

  // Port matchers never match packets without ports (ICMP).
  auto icmp = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 1, testing::IcmpEcho(8, 80, 1));
  m = c.Match(*ParsePacket(absl::MakeConstSpan(icmp)), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "");
}

TEST(CompiledPolicy, CompileRejectsInvalid) {
  auto c = CompiledPolicy::Compile(PolicyFromText(R"pb(rules { id: "a" })pb"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CompiledPolicy, RuleForFlowMatchesTheNextConnection) {
  nfr::v1::Flow flow;
  flow.set_family(4);
  flow.set_protocol(nfr::v1::PROTOCOL_TCP);
  flow.set_src_addr("10.77.0.2");
  flow.set_dst_addr("10.77.1.2");
  flow.set_src_port(40000);
  flow.set_dst_port(9000);
  flow.set_interface("r-cli");
  flow.set_direction(DIRECTION_INGRESS);
  nfr::v1::Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_DROP);
  *p.add_rules() = RuleForFlow(flow, nfr::v1::VERDICT_ACCEPT, "decided-1");
  auto c = CompiledPolicy::Compile(p);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m =
      (*c)->Match(Tcp4({10, 77, 0, 2}, {10, 77, 1, 2}, 40001, 9000), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.action, nfr::v1::ACTION_ACCEPT);
  m = (*c)->Match(Tcp4({10, 77, 0, 3}, {10, 77, 1, 2}, 40001, 9000), "r-cli", DIRECTION_INGRESS);
  EXPECT_EQ(m.rule_id, "");
}

TEST(PolicyHolder, SwapsWhileReadersRun) {
  auto make = [](nfr::v1::Verdict v) {
    nfr::v1::Policy p;
    p.set_default_verdict(v);
    return *CompiledPolicy::Compile(p);
  };
  PolicyHolder holder(make(nfr::v1::VERDICT_DROP));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    auto pkt = Tcp4({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2);
    while (!stop) {
      auto m = holder.Get()->Match(pkt, "x", DIRECTION_INGRESS);
      ASSERT_TRUE(m.action == nfr::v1::ACTION_ACCEPT || m.action == nfr::v1::ACTION_DROP);
      ++reads;
    }
  });
  for (int i = 0; i < 1000; ++i) {
    holder.Set(make(i % 2 ? nfr::v1::VERDICT_ACCEPT : nfr::v1::VERDICT_DROP));
  }
  while (reads < 1000) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(holder.Get()->default_verdict(), nfr::v1::VERDICT_ACCEPT);
}

}  // namespace
}  // namespace nfr
