// Re-evaluation on a policy install (VerdictEngine::Reevaluate): every cache
// origin x verdict against a new policy that accepts, drops, asks, or only has
// its default drop for the flow; UDP reply entries (egress flows, ONCE);
// pending connections; operator deny/forget.
#include <google/protobuf/text_format.h>
#include <netinet/in.h>

#include <cstring>
#include <deque>
#include <string>

#include "agent/datapath/memory_verdict_cache.h"
#include "agent/packet/flow_key.h"
#include "agent/runtime/verdict_engine.h"
#include "gtest/gtest.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

class NullSender : public HeldVerdictSender {
 public:
  absl::Status SendVerdict(uint16_t, uint32_t, bool accept) override {
    (accept ? accepted : dropped)++;
    return absl::OkStatus();
  }
  int accepted = 0, dropped = 0;
};

class CountingSink : public EventSink {
 public:
  void OnPendingAdded(const nfr::v1::PendingConnection&) override {}
  void OnPendingResolved(const nfr::v1::PendingConnection&, const nfr::v1::Decision& d) override {
    resolved.push_back(d);
  }
  void OnFlowDecided(const nfr::v1::Decision&) override {}
  std::vector<nfr::v1::Decision> resolved;
};

enum class NewPolicy { kAccept, kDrop, kAsk, kDefaultDrop, kDefaultAccept };

const char* Name(NewPolicy p) {
  switch (p) {
    case NewPolicy::kAccept:
      return "rule accepts";
    case NewPolicy::kDrop:
      return "rule drops";
    case NewPolicy::kAsk:
      return "rule asks";
    case NewPolicy::kDefaultDrop:
      return "no rule, default drop";
    default:
      return "no rule, default accept";
  }
}

// A filler rule first, so a matching rule has index 1 (rule field 2).
nfr::v1::Policy PolicyFor(NewPolicy p, uint64_t version) {
  std::string text = R"pb(rules {
                            id: "ssh"
                            protocol: PROTOCOL_TCP
                            dst_ports { first: 22 }
                            action: ACTION_DROP
                          })pb";
  auto rule = [&](const char* action) {
    text += std::string(" rules { id: \"r\" protocol: PROTOCOL_TCP dst_ports { first: 80 } ") +
            "action: " + action + " }";
  };
  if (p == NewPolicy::kAccept) rule("ACTION_ACCEPT");
  if (p == NewPolicy::kDrop) rule("ACTION_DROP");
  if (p == NewPolicy::kAsk) rule("ACTION_ASK");
  text += p == NewPolicy::kDefaultAccept ? " default_verdict: VERDICT_ACCEPT"
                                         : " default_verdict: VERDICT_DROP";
  text += " pending_timeout_ms: 5000 flow_ttl_seconds: 120";
  nfr::v1::Policy out;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &out)) << text;
  out.set_version(version);
  return out;
}

struct Entry {
  nfr_origin origin;
  nfr_verdict verdict;
  uint32_t rule;       // written as it was
  uint64_t origin_id;  // written as it was
};

struct Expect {
  bool present;
  nfr_verdict verdict;
  nfr_origin origin;
  uint32_t rule;
  uint64_t origin_id;
};

class ReevaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::make_unique<VerdictEngine>(
        *CompiledPolicy::Compile(PolicyFor(NewPolicy::kAccept, 1)),
        PendingLimits{.max_flows = 16, .max_packets_per_flow = 4}, &sink);
    engine->SetCache(&cache);
    engine->SetSender(&sender);
  }
  void TearDown() override {
    engine->SetCache(nullptr);
    engine->SetSender(nullptr);
  }
  static std::vector<uint8_t> Tcp(uint16_t sport, uint16_t dport) {
    return testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, IPPROTO_TCP,
                         testing::TcpHeader(sport, dport, kTcpSyn));
  }
  static nfr_flow_key KeyOf(const std::vector<uint8_t>& bytes) {
    return FlowKeyOf(*ParsePacket(absl::MakeConstSpan(bytes)));
  }
  void Seed(const nfr_flow_key& key, const Entry& e) {
    nfr_flow_value v{};
    v.verdict = e.verdict;
    v.origin = e.origin;
    v.rule = e.rule;
    v.origin_id = e.origin_id;
    v.direction = NFR_DIR_INGRESS;
    v.ifindex = 1;  // lo
    ASSERT_TRUE(cache.SetFlow(key, v, absl::Seconds(100)).ok());
  }
  QueueAction Send(const std::vector<uint8_t>& bytes, uint32_t id, bool egress = false) {
    packets.push_back(bytes);
    QueuedPacket q;
    q.queue = 4600;
    q.id = id;
    q.hook = egress ? NFR_HOOK_REDIRECT_EGRESS : 0;
    (egress ? q.out_ifindex : q.in_ifindex) = 1;
    q.payload = absl::MakeConstSpan(packets.back());
    return engine->OnPacket(q);
  }

  MemoryVerdictCache cache;
  NullSender sender;
  CountingSink sink;
  std::unique_ptr<VerdictEngine> engine;
  std::deque<std::vector<uint8_t>> packets;
};

constexpr uint64_t kNewVersion = 7;
constexpr uint64_t kDecision = 4242;

TEST_F(ReevaluationTest, EveryOriginAndVerdictAgainstEveryNewPolicy) {
  const Entry policy_accept{NFR_ORIGIN_POLICY, NFR_VERDICT_ALLOW, 2, 1};
  const Entry policy_drop{NFR_ORIGIN_POLICY, NFR_VERDICT_DENY, 2, 1};
  const Entry default_accept{NFR_ORIGIN_DEFAULT, NFR_VERDICT_ALLOW, 0, 1};
  const Entry default_drop{NFR_ORIGIN_DEFAULT, NFR_VERDICT_DENY, 0, 1};
  const Entry controller_accept{NFR_ORIGIN_CONTROLLER, NFR_VERDICT_ALLOW, 0, kDecision};
  const Entry controller_drop{NFR_ORIGIN_CONTROLLER, NFR_VERDICT_DENY, 0, kDecision};
  const Entry operator_deny{NFR_ORIGIN_OPERATOR, NFR_VERDICT_DENY, 0, kDecision};

  // What the policy says now, as a policy entry (rule index + 1; 0 = default).
  auto by_policy = [](NewPolicy p) -> Expect {
    switch (p) {
      case NewPolicy::kAccept:
        return {true, NFR_VERDICT_ALLOW, NFR_ORIGIN_POLICY, 2, kNewVersion};
      case NewPolicy::kDrop:
        return {true, NFR_VERDICT_DENY, NFR_ORIGIN_POLICY, 2, kNewVersion};
      case NewPolicy::kAsk:
        return {false, NFR_VERDICT_NONE, NFR_ORIGIN_NONE, 0, 0};  // the next packet asks
      case NewPolicy::kDefaultDrop:
        return {true, NFR_VERDICT_DENY, NFR_ORIGIN_POLICY, 0, kNewVersion};
      default:
        return {true, NFR_VERDICT_ALLOW, NFR_ORIGIN_POLICY, 0, kNewVersion};
    }
  };
  auto kept = [](const Entry& e) -> Expect {
    return {true, e.verdict, e.origin, e.rule, e.origin_id};
  };

  struct Case {
    const char* what;
    Entry before;
  };
  const Case cases[] = {
      {"policy accept", policy_accept},         {"policy drop", policy_drop},
      {"default accept", default_accept},       {"default drop", default_drop},
      {"controller accept", controller_accept}, {"controller drop", controller_drop},
      {"operator deny", operator_deny},
  };
  const NewPolicy news[] = {NewPolicy::kAccept, NewPolicy::kDrop, NewPolicy::kAsk,
                            NewPolicy::kDefaultDrop, NewPolicy::kDefaultAccept};
  uint16_t sport = 30000;
  for (const Case& c : cases) {
    for (NewPolicy n : news) {
      SCOPED_TRACE(std::string(c.what) + " / " + Name(n));
      ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kAccept, 1)).ok());
      const nfr_flow_key key = KeyOf(Tcp(++sport, 80));
      Seed(key, c.before);
      ASSERT_TRUE(engine->InstallPolicy(PolicyFor(n, kNewVersion)).ok());

      Expect want;
      if (c.before.origin == NFR_ORIGIN_POLICY || c.before.origin == NFR_ORIGIN_DEFAULT) {
        want = by_policy(n);
        if (want.present && want.verdict == c.before.verdict && want.rule == c.before.rule &&
            c.before.origin == NFR_ORIGIN_POLICY) {
          want = kept(c.before);  // unchanged entries are not rewritten
        }
      } else if (c.before.origin == NFR_ORIGIN_CONTROLLER &&
                 c.before.verdict == NFR_VERDICT_ALLOW && n == NewPolicy::kDrop) {
        want = by_policy(n);  // only a DROP rule revokes a controller's accept
      } else {
        want = kept(c.before);  // controller drops, operator denies, other controller accepts
      }
      std::optional<nfr_flow_value> got = cache.LookupFlow(key);
      ASSERT_EQ(got.has_value(), want.present);
      if (!want.present) continue;
      EXPECT_EQ(got->verdict, want.verdict);
      EXPECT_EQ(got->origin, want.origin);
      EXPECT_EQ(got->rule, want.rule);
      EXPECT_EQ(got->origin_id, want.origin_id);
      EXPECT_EQ(got->ifindex, 1u);
      EXPECT_EQ(got->direction, NFR_DIR_INGRESS);
      ASSERT_TRUE(cache.DeleteFlow(key).ok());
    }
  }
}

TEST_F(ReevaluationTest, UdpReplyEntriesFollowTheirForwardFlow) {
  // An accepted UDP flow and its reply entry; the new policy drops UDP 53.
  nfr::v1::Policy accept;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(rules {
             id: "dns"
             protocol: PROTOCOL_UDP
             dst_ports { first: 53 }
             action: ACTION_ACCEPT
           }
           default_verdict: VERDICT_DROP)pb",
      &accept));
  accept.set_version(1);
  ASSERT_TRUE(engine->InstallPolicy(accept).ok());
  auto p = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, IPPROTO_UDP, testing::UdpHeader(5000, 53));
  ASSERT_EQ(Send(p, 1), QueueAction::kAccept);
  // One entry: its verdict covers the replies (the program looks up the reversed key).
  EXPECT_TRUE(cache.LookupFlow(KeyOf(p))->flags & NFR_FLOW_F_REPLIES);
  EXPECT_FALSE(cache.LookupFlow(ReverseFlowKey(KeyOf(p))).has_value());

  nfr::v1::Policy drop = accept;
  drop.mutable_rules(0)->set_action(nfr::v1::ACTION_DROP);
  drop.set_version(2);
  ASSERT_TRUE(engine->InstallPolicy(drop).ok());
  EXPECT_EQ(cache.LookupFlow(KeyOf(p))->verdict, NFR_VERDICT_DENY);
  EXPECT_TRUE(cache.LookupFlow(KeyOf(p))->flags & NFR_FLOW_F_REPLIES);  // replies dropped with it
  // A reply that reached the engine (queued before the write) gets the flow's verdict.
  auto answer = testing::Ipv4({10, 77, 1, 2}, {10, 77, 0, 2}, IPPROTO_UDP, testing::UdpHeader(53, 5000));
  EXPECT_EQ(Send(answer, 2), QueueAction::kDrop);
}

nfr::v1::Policy EgressUdp(nfr::v1::Action action, uint64_t version) {
  nfr::v1::Policy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(rules {
             id: "dns-out"
             direction: DIRECTION_EGRESS
             protocol: PROTOCOL_UDP
             dst_ports { first: 53 }
             action: ACTION_ACCEPT
           }
           default_verdict: VERDICT_DROP
           pending_timeout_ms: 3000
           flow_ttl_seconds: 120)pb",
      &p));
  p.mutable_rules(0)->set_action(action);
  p.set_version(version);
  return p;
}

// A router-originated datagram (10.77.1.1 -> 10.77.1.2:53) and its answer.
std::vector<uint8_t> RouterQuery() {
  return testing::Ipv4({10, 77, 1, 1}, {10, 77, 1, 2}, IPPROTO_UDP, testing::UdpHeader(5000, 53));
}
std::vector<uint8_t> RouterAnswer() {
  return testing::Ipv4({10, 77, 1, 2}, {10, 77, 1, 1}, IPPROTO_UDP, testing::UdpHeader(53, 5000));
}

TEST_F(ReevaluationTest, EgressUdpAcceptCoversItsRepliesAtIngress) {
  ASSERT_TRUE(engine->InstallPolicy(EgressUdp(nfr::v1::ACTION_ACCEPT, 2)).ok());
  ASSERT_EQ(Send(RouterQuery(), 1, /*egress=*/true), QueueAction::kAccept);
  std::optional<nfr_flow_value> query = cache.LookupFlow(KeyOf(RouterQuery()));
  ASSERT_TRUE(query.has_value());
  EXPECT_EQ(query->verdict, NFR_VERDICT_ALLOW);
  EXPECT_TRUE(query->flags & NFR_FLOW_F_REPLIES);
  EXPECT_EQ(query->direction, NFR_DIR_EGRESS);
  EXPECT_EQ(query->ifindex, 1u);
  EXPECT_FALSE(cache.LookupFlow(KeyOf(RouterAnswer())).has_value());
  // Listed as a reply entry at ingress, as an explicit one would be.
  const nfr_flow_key answer = KeyOf(RouterAnswer());
  int listed = 0;
  ASSERT_TRUE(engine
                  ->ForEachFlow([](const nfr_flow_key&, const nfr_flow_value&) { return true; },
                                [&](const CachedFlow& c) {
                                  if (!(c.value.flags & NFR_FLOW_F_REPLY)) return;
                                  ++listed;
                                  EXPECT_EQ(std::memcmp(&c.key, &answer, sizeof(c.key)), 0);
                                  EXPECT_EQ(c.flow.direction(), nfr::v1::DIRECTION_INGRESS);
                                })
                  .ok());
  EXPECT_EQ(listed, 1);
  // An answer that reaches the engine (queued before the write) is not a new
  // ingress flow for the policy (which would drop it): the cache answers.
  ASSERT_EQ(Send(RouterAnswer(), 2), QueueAction::kAccept);
  EXPECT_EQ(engine->counters().cache_hits, 1u);
  EXPECT_EQ(engine->counters().policy_drop, 0u);
  // Re-evaluated as the egress query it answers: kept, then revoked with it.
  ASSERT_TRUE(engine->InstallPolicy(EgressUdp(nfr::v1::ACTION_ACCEPT, 3)).ok());
  EXPECT_EQ(cache.LookupFlow(KeyOf(RouterQuery()))->verdict, NFR_VERDICT_ALLOW);
  ASSERT_TRUE(engine->InstallPolicy(EgressUdp(nfr::v1::ACTION_DROP, 4)).ok());
  EXPECT_EQ(cache.LookupFlow(KeyOf(RouterQuery()))->verdict, NFR_VERDICT_DENY);
  EXPECT_TRUE(cache.LookupFlow(KeyOf(RouterQuery()))->flags & NFR_FLOW_F_REPLIES);
}

TEST_F(ReevaluationTest, UdpAcceptOnceLetsTheAnswersThroughAndAsksAgain) {
  ASSERT_TRUE(engine->InstallPolicy(EgressUdp(nfr::v1::ACTION_ASK, 2)).ok());
  ASSERT_EQ(Send(RouterQuery(), 1, true), QueueAction::kHold);
  DecideRequest r;
  r.pending_id = engine->ListPending().at(0).id();
  r.verdict = nfr::v1::VERDICT_ACCEPT;
  r.scope = nfr::v1::DECISION_SCOPE_ONCE;
  r.decision_id = kDecision;
  ASSERT_TRUE(engine->Decide(r).ok());
  EXPECT_EQ(sender.accepted, 1);
  EXPECT_FALSE(cache.LookupFlow(KeyOf(RouterQuery())).has_value());
  auto reply = cache.Get(KeyOf(RouterAnswer()));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->first, NFR_VERDICT_ALLOW);
  EXPECT_EQ(reply->second, absl::Seconds(3));  // the pending timeout, not the flow TTL
  EXPECT_EQ(cache.LookupFlow(KeyOf(RouterAnswer()))->origin, NFR_ORIGIN_CONTROLLER);
  EXPECT_EQ(cache.LookupFlow(KeyOf(RouterAnswer()))->origin_id, kDecision);
  EXPECT_EQ(Send(RouterQuery(), 2, true), QueueAction::kHold);  // the next query asks again
}

TEST_F(ReevaluationTest, PendingConnectionsAreResolvedUnlessStillAsked) {
  ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kAsk, 2)).ok());
  ASSERT_EQ(Send(Tcp(31000, 80), 1), QueueAction::kHold);
  ASSERT_EQ(engine->pending_size(), 1u);
  ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kAsk, 3)).ok());
  EXPECT_EQ(engine->pending_size(), 1u);  // still asked
  ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kDrop, 4)).ok());
  EXPECT_EQ(engine->pending_size(), 0u);
  EXPECT_EQ(sender.dropped, 1);
  ASSERT_EQ(sink.resolved.size(), 1u);
  EXPECT_EQ(sink.resolved[0].source(), nfr::v1::DECISION_SOURCE_POLICY);
  EXPECT_EQ(sink.resolved[0].rule_id(), "r");
  EXPECT_EQ(cache.LookupFlow(KeyOf(Tcp(31000, 80)))->origin, NFR_ORIGIN_POLICY);

  ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kAsk, 5)).ok());
  ASSERT_EQ(Send(Tcp(31001, 80), 2), QueueAction::kHold);
  ASSERT_TRUE(engine->InstallPolicy(PolicyFor(NewPolicy::kAccept, 6)).ok());
  EXPECT_EQ(sender.accepted, 1);
  EXPECT_EQ(cache.LookupFlow(KeyOf(Tcp(31001, 80)))->verdict, NFR_VERDICT_ALLOW);
}

TEST_F(ReevaluationTest, OperatorDenyWritesOperatorEntriesOverTheFlowAndItsReply) {
  auto p = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, IPPROTO_UDP, testing::UdpHeader(5000, 80));
  nfr::v1::Policy udp = PolicyFor(NewPolicy::kDefaultAccept, 2);
  ASSERT_TRUE(engine->InstallPolicy(udp).ok());
  ASSERT_EQ(Send(p, 1), QueueAction::kAccept);
  std::vector<CachedFlow> flows;
  ASSERT_TRUE(engine
                  ->ForEachFlow([](const nfr_flow_key&, const nfr_flow_value&) { return true; },
                                [&](const CachedFlow& c) {
                    if (!(c.value.flags & NFR_FLOW_F_REPLY)) flows.push_back(c);
                  })
                  .ok());
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.interface(), "lo");
  const uint64_t ids[] = {kDecision};
  absl::StatusOr<absl::Duration> ttl = engine->DenyFlows(flows, ids);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, absl::Seconds(120));
  std::optional<nfr_flow_value> v = cache.LookupFlow(KeyOf(p));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->verdict, NFR_VERDICT_DENY);
  EXPECT_EQ(v->origin, NFR_ORIGIN_OPERATOR);
  EXPECT_EQ(v->origin_id, kDecision);
  EXPECT_TRUE(v->flags & NFR_FLOW_F_REPLIES) << "the replies are denied with the flow";
  ASSERT_TRUE(engine->ForgetFlows(flows).ok());
  EXPECT_FALSE(cache.LookupFlow(KeyOf(p)).has_value());
  EXPECT_FALSE(cache.LookupFlow(ReverseFlowKey(KeyOf(p))).has_value());
}

}  // namespace
}  // namespace nfr
