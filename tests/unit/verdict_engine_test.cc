#include "agent/runtime/verdict_engine.h"

#include <google/protobuf/text_format.h>
#include <netinet/in.h>

#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/datapath/memory_verdict_cache.h"
#include "agent/packet/flow_key.h"
#include "gtest/gtest.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

class RecordingSender : public HeldVerdictSender {
 public:
  absl::Status SendVerdict(uint16_t queue, uint32_t id, bool accept) override {
    std::lock_guard<std::mutex> l(mu);
    sent.push_back({queue, id, accept});
    return absl::OkStatus();
  }
  struct Sent {
    uint16_t queue;
    uint32_t id;
    bool accept;
  };
  std::mutex mu;
  std::vector<Sent> sent;
};

class RecordingSink : public EventSink {
 public:
  void OnPendingAdded(const nfr::v1::PendingConnection& p) override { added.push_back(p); }
  void OnPendingResolved(const nfr::v1::PendingConnection& p, const nfr::v1::Decision& d) override {
    resolved.push_back({p, d});
  }
  void OnFlowDecided(const nfr::v1::Decision& d) override { decided.push_back(d); }
  std::vector<nfr::v1::PendingConnection> added;
  std::vector<std::pair<nfr::v1::PendingConnection, nfr::v1::Decision>> resolved;
  std::vector<nfr::v1::Decision> decided;
};

nfr::v1::Policy PolicyFromText(const std::string& text) {
  nfr::v1::Policy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

constexpr char kPolicy[] = R"pb(
  rules {
    id: "web"
    protocol: PROTOCOL_TCP
    dst_ports { first: 80 }
    action: ACTION_ACCEPT
    ttl_seconds: 60
  }
  rules {
    id: "dns"
    protocol: PROTOCOL_UDP
    dst_ports { first: 53 }
    action: ACTION_ACCEPT
  }
  rules { id: "egress-ask" direction: DIRECTION_EGRESS protocol: PROTOCOL_TCP action: ACTION_ASK }
  rules { id: "lo-ask" interface: "lo" protocol: PROTOCOL_TCP action: ACTION_ASK }
  default_verdict: VERDICT_DROP
  pending_timeout_ms: 2000
  flow_ttl_seconds: 120)pb";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({.max_flows = 16, .max_packets_per_flow = 4}); }
  void Make(PendingLimits limits) {
    engine = std::make_unique<VerdictEngine>(*CompiledPolicy::Compile(PolicyFromText(kPolicy)),
                                             limits, &sink);
    engine->SetCache(&cache);
    engine->SetSender(&sender);
  }
  QueueAction Send(const std::vector<uint8_t>& bytes, uint32_t id, uint8_t hook = 0,
                   uint32_t in = 1, uint32_t out = 0, bool batched = false) {
    packets.push_back(bytes);
    QueuedPacket q;
    q.batched = batched;
    q.queue = 4200;
    q.id = id;
    q.hook = hook;
    q.in_ifindex = in;
    q.out_ifindex = out;
    q.payload = absl::MakeConstSpan(packets.back());
    return engine->OnPacket(q);
  }
  static std::vector<uint8_t> Tcp(uint16_t sport, uint16_t dport, uint8_t flags = kTcpSyn) {
    return testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 6,
                         testing::TcpHeader(sport, dport, flags));
  }
  static nfr_flow_key KeyOf(const std::vector<uint8_t>& bytes) {
    return FlowKeyOf(*ParsePacket(absl::MakeConstSpan(bytes)));
  }

  MemoryVerdictCache cache;
  RecordingSender sender;
  RecordingSink sink;
  std::unique_ptr<VerdictEngine> engine;
  std::deque<std::vector<uint8_t>> packets;
};

TEST_F(EngineTest, PolicyAcceptWritesTheFlowCache) {
  auto p = Tcp(40000, 80);
  EXPECT_EQ(Send(p, 1), QueueAction::kAccept);
  auto c = cache.Get(KeyOf(p));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->first, NFR_VERDICT_ALLOW);
  EXPECT_EQ(c->second, absl::Seconds(60));
  ASSERT_EQ(sink.decided.size(), 1u);
  EXPECT_EQ(sink.decided[0].source(), nfr::v1::DECISION_SOURCE_POLICY);
  EXPECT_EQ(sink.decided[0].rule_id(), "web");
  EXPECT_EQ(sink.decided[0].flow().interface(), "lo");
  EXPECT_EQ(sink.decided[0].ttl_seconds(), 60u);

  // A packet queued before the cache write is answered from the cache.
  EXPECT_EQ(Send(p, 2), QueueAction::kAccept);
  EXPECT_EQ(engine->counters().cache_hits, 1u);
}

// A flow cache that counts calls, to show what the batched path saves.
class CountingCache : public MemoryVerdictCache {
 public:
  absl::Status SetFlow(const nfr_flow_key& key, const nfr_flow_value& value,
                       absl::Duration ttl) override {
    ++set_flow;
    return MemoryVerdictCache::SetFlow(key, value, ttl);
  }
  absl::Status SetFlows(absl::Span<const nfr_flow_key> keys,
                        absl::Span<const nfr_flow_value> values,
                        absl::Span<const absl::Duration> ttls) override {
    ++set_flows;
    return VerdictCache::SetFlows(keys, values, ttls);
  }
  std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const override {
    ++lookups;
    return MemoryVerdictCache::LookupFlow(key);
  }
  int set_flow = 0, set_flows = 0;
  mutable int lookups = 0;
};

TEST_F(EngineTest, BatchedPacketsWriteTheCacheOnceAtBatchEndAndSkipLookups) {
  CountingCache counting;
  engine->SetCache(&counting);
  std::vector<std::vector<uint8_t>> flows;
  for (uint16_t i = 0; i < 10; ++i) {
    flows.push_back(
        testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17, testing::UdpHeader(6000 + i, 53)));
    EXPECT_EQ(Send(flows.back(), i + 1, 0, 1, 0, /*batched=*/true), QueueAction::kAccept);
  }
  // A second packet of a flow decided in this batch: answered from the staged write.
  EXPECT_EQ(Send(flows[3], 11, 0, 1, 0, true), QueueAction::kAccept);
  EXPECT_EQ(engine->counters().cache_hits, 1u);
  EXPECT_EQ(counting.set_flows, 0);
  EXPECT_FALSE(counting.Get(KeyOf(flows[0])).has_value()) << "written before the batch ended";
  engine->OnBatchEnd();
  EXPECT_EQ(counting.set_flows, 1);
  EXPECT_EQ(counting.set_flow, 10) << "10 flows (their entries cover the replies), through the "
                                      "default SetFlows";
  // New flows need no lookup (a slot shared with a recent key could cost one, rarely).
  const int lookups = counting.lookups;
  EXPECT_LE(lookups, 1);
  EXPECT_GE(engine->counters().lookups_skipped, 9u);
  for (const auto& f : flows) {
    EXPECT_EQ(counting.Get(KeyOf(f))->first, NFR_VERDICT_ALLOW);
    // The forward entry (NFR_FLOW_F_REPLIES) covers the replies: no entry for the reverse key.
    EXPECT_FALSE(counting.Get(ReverseFlowKey(KeyOf(f))).has_value());
  }
  // A packet queued before the write, handled after it: looked up, a cache hit.
  EXPECT_EQ(Send(flows[5], 12, 0, 1, 0, true), QueueAction::kAccept);
  EXPECT_EQ(counting.lookups, lookups + 1);
  EXPECT_EQ(engine->counters().cache_hits, 2u);
  engine->OnBatchEnd();
  engine->SetCache(&cache);
}

// COUNT new UDP flows from source ports FIRST_SPORT.., one batch, alternating the "dns" rule
// (port 53) and the default verdict (5353). The packets stay alive in what it returns.
std::deque<std::vector<uint8_t>> FeedNewUdpFlows(VerdictEngine& engine, uint16_t first_sport,
                                                 uint16_t count) {
  std::deque<std::vector<uint8_t>> packets;
  for (uint16_t i = 0; i < count; ++i) {
    packets.push_back(testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17,
                                    testing::UdpHeader(first_sport + i, i % 2 ? 53 : 5353)));
    QueuedPacket q;
    q.queue = 4200;
    q.id = i + 1;
    q.in_ifindex = 1;
    q.batched = true;
    q.payload = absl::MakeConstSpan(packets.back());
    engine.OnPacket(q);
  }
  return packets;
}

// Over the record budget (here 0: counts only) a batch still writes the cache once: counting a
// decision per rule must not flush the staged writes (it did, one SetFlows per packet).
TEST(EngineBatching, CountedDecisionsStillWriteTheCacheOncePerBatch) {
  RecordingSink sink;
  CountingCache counting;
  VerdictEngine engine(*CompiledPolicy::Compile(PolicyFromText(kPolicy)),
                       {.max_flows = 16, .max_packets_per_flow = 4}, &sink,
                       /*policy_records_per_second=*/0);
  engine.SetCache(&counting);
  const auto packets = FeedNewUdpFlows(engine, 8000, 40);
  EXPECT_EQ(counting.set_flows, 0) << "written before the batch ended";
  engine.OnBatchEnd();
  EXPECT_EQ(counting.set_flows, 1);
  EXPECT_EQ(counting.set_flow, 40);
  EXPECT_TRUE(sink.decided.empty());
  EXPECT_EQ(engine.counters().unlogged_decisions, 40u);
  uint64_t counted = 0;
  for (const auto& [rule, n] : engine.UnloggedByRule()) counted += n;
  EXPECT_EQ(counted, 40u);
}

TEST_F(EngineTest, AskFlowsAreAlwaysLookedUp) {
  CountingCache counting;
  engine->SetCache(&counting);
  // A controller's accept written by someone else (not noted by this engine) still answers.
  auto p = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 6, testing::TcpHeader(41000, 22, kTcpSyn));
  nfr_flow_value v{};
  v.verdict = NFR_VERDICT_ALLOW;
  v.origin = NFR_ORIGIN_CONTROLLER;
  ASSERT_TRUE(counting.MemoryVerdictCache::SetFlow(KeyOf(p), v, absl::Seconds(10)).ok());
  EXPECT_EQ(Send(p, 1, NFR_HOOK_REDIRECT_EGRESS, 0, 1, true), QueueAction::kAccept);  // egress-ask
  EXPECT_EQ(counting.lookups, 1);
  EXPECT_EQ(engine->counters().asked, 0u);
  engine->OnBatchEnd();
  engine->SetCache(&cache);
}

TEST(EngineSampling, PolicyDecisionsOverTheBudgetAreCountedPerRule) {
  RecordingSink sink;
  MemoryVerdictCache cache;
  VerdictEngine engine(*CompiledPolicy::Compile(PolicyFromText(kPolicy)),
                       {.max_flows = 16, .max_packets_per_flow = 4}, &sink,
                       /*policy_records_per_second=*/5);
  engine.SetCache(&cache);
  const auto packets = FeedNewUdpFlows(engine, 7000, 40);
  engine.OnBatchEnd();
  // Within one second (the test runs far faster), 5 records, the other 35 counted.
  ASSERT_LE(sink.decided.size(), 10u);  // a second boundary may add another 5
  ASSERT_GE(sink.decided.size(), 5u);
  const EngineCounters c = engine.counters();
  EXPECT_EQ(c.unlogged_decisions + sink.decided.size(), 40u);
  EXPECT_EQ(c.policy_accept + c.policy_drop, 40u);
  uint64_t counted = 0;
  for (const auto& [rule, n] : engine.UnloggedByRule()) {
    EXPECT_TRUE(rule == "dns" || rule.empty()) << rule;
    counted += n;
  }
  EXPECT_EQ(counted, c.unlogged_decisions);
}

TEST_F(EngineTest, UdpAcceptAlsoAllowsReplies) {
  auto p = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17, testing::UdpHeader(5000, 53));
  EXPECT_EQ(Send(p, 1), QueueAction::kAccept);
  // The flow's own entry covers its replies (the program looks up the reversed key).
  auto forward = cache.Get(KeyOf(p));
  ASSERT_TRUE(forward.has_value());
  EXPECT_EQ(forward->first, NFR_VERDICT_ALLOW);
  EXPECT_EQ(forward->second, absl::Seconds(120));
  EXPECT_TRUE(cache.LookupFlow(KeyOf(p))->flags & NFR_FLOW_F_REPLIES);
  EXPECT_FALSE(cache.Get(ReverseFlowKey(KeyOf(p))).has_value());
  // An answer queued before the write: the cache answers, the policy is not asked.
  auto answer = testing::Ipv4({10, 77, 1, 2}, {10, 77, 0, 2}, 17, testing::UdpHeader(53, 5000));
  EXPECT_EQ(Send(answer, 2), QueueAction::kAccept);
  EXPECT_EQ(engine->counters().cache_hits, 1u);
}

TEST_F(EngineTest, DefaultVerdictDropsAndCachesDeny) {
  auto p = testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 17, testing::UdpHeader(5000, 5000));
  EXPECT_EQ(Send(p, 1), QueueAction::kDrop);
  EXPECT_EQ(cache.Get(KeyOf(p))->first, NFR_VERDICT_DENY);
  EXPECT_EQ(sink.decided.at(0).rule_id(), "");
  EXPECT_EQ(sink.decided.at(0).verdict(), nfr::v1::VERDICT_DROP);
}

TEST_F(EngineTest, AskHoldsEveryPacketOfTheFlowUntilDecided) {
  auto p = Tcp(40001, 9000);
  EXPECT_EQ(Send(p, 10), QueueAction::kHold);
  EXPECT_EQ(Send(p, 11), QueueAction::kHold);  // SYN retransmission joins the entry
  ASSERT_EQ(sink.added.size(), 1u);
  EXPECT_EQ(sink.added[0].rule_id(), "lo-ask");
  EXPECT_EQ(cache.Get(KeyOf(p))->first, NFR_VERDICT_PENDING);
  auto pending = engine->ListPending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].packets(), 2u);
  EXPECT_EQ(pending[0].flow().dst_port(), 9000u);

  DecideRequest r;
  r.pending_id = pending[0].id();
  r.verdict = nfr::v1::VERDICT_ACCEPT;
  r.scope = nfr::v1::DECISION_SCOPE_FLOW;
  r.ttl = absl::Seconds(30);
  r.decider = "alice";
  r.reason = "known service";
  auto res = engine->Decide(r);
  ASSERT_TRUE(res.ok()) << res.status();
  const nfr::v1::Decision* d = &res->decision;
  EXPECT_EQ(d->source(), nfr::v1::DECISION_SOURCE_CONTROLLER);
  EXPECT_EQ(d->decider(), "alice");
  EXPECT_EQ(d->ttl_seconds(), 30u);
  EXPECT_EQ(d->pending_id(), r.pending_id);
  EXPECT_EQ(res->pending.id(), r.pending_id);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[0].id, 10u);
  EXPECT_EQ(sender.sent[1].id, 11u);
  EXPECT_TRUE(sender.sent[0].accept && sender.sent[1].accept);
  EXPECT_EQ(sender.sent[0].queue, 4200);
  EXPECT_EQ(cache.Get(KeyOf(p))->first, NFR_VERDICT_ALLOW);
  EXPECT_EQ(cache.Get(KeyOf(p))->second, absl::Seconds(30));
  EXPECT_EQ(d->verdict(), nfr::v1::VERDICT_ACCEPT);
  EXPECT_TRUE(sink.resolved.empty()) << "the caller (the core) logs and publishes a decide";
  EXPECT_TRUE(engine->ListPending().empty());

  EXPECT_EQ(engine->Decide(r).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Send(p, 12), QueueAction::kAccept);  // now cached
}

TEST_F(EngineTest, DecideOnceForgetsTheFlow) {
  auto p = Tcp(40002, 9000);
  EXPECT_EQ(Send(p, 1), QueueAction::kHold);
  DecideRequest r;
  r.pending_id = engine->ListPending().at(0).id();
  r.verdict = nfr::v1::VERDICT_DROP;
  ASSERT_TRUE(engine->Decide(r).ok());
  EXPECT_FALSE(cache.Get(KeyOf(p)).has_value());
  EXPECT_FALSE(sender.sent.at(0).accept);
  EXPECT_EQ(Send(p, 2), QueueAction::kHold);  // asks again
}

TEST_F(EngineTest, DecideRejectsBadRequests) {
  DecideRequest r;
  r.pending_id = 12345;
  r.verdict = nfr::v1::VERDICT_ACCEPT;
  EXPECT_EQ(engine->Decide(r).status().code(), absl::StatusCode::kNotFound);
  r.verdict = nfr::v1::VERDICT_UNSPECIFIED;
  EXPECT_EQ(engine->Decide(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, TimeoutAppliesTheDefaultVerdict) {
  auto p = Tcp(40003, 9000);
  EXPECT_EQ(Send(p, 7), QueueAction::kHold);
  auto deadline = engine->NextDeadline();
  ASSERT_TRUE(deadline.has_value());
  engine->ExpireDue(*deadline - absl::Milliseconds(1));
  EXPECT_TRUE(sender.sent.empty());
  engine->ExpireDue(*deadline);
  ASSERT_EQ(sender.sent.size(), 1u);
  EXPECT_FALSE(sender.sent[0].accept);
  ASSERT_EQ(sink.resolved.size(), 1u);
  EXPECT_EQ(sink.resolved[0].second.source(), nfr::v1::DECISION_SOURCE_TIMEOUT);
  EXPECT_EQ(cache.Get(KeyOf(p))->first, NFR_VERDICT_DENY);
  EXPECT_EQ(engine->pending_counters().expired, 1u);
}

TEST_F(EngineTest, BoundsGiveTheDefaultVerdictImmediately) {
  Make({.max_flows = 1, .max_packets_per_flow = 2});
  auto p = Tcp(40004, 9000);
  EXPECT_EQ(Send(p, 1), QueueAction::kHold);
  EXPECT_EQ(Send(p, 2), QueueAction::kHold);
  EXPECT_EQ(Send(p, 3), QueueAction::kDrop);                 // beyond max_packets_per_flow
  EXPECT_EQ(Send(Tcp(40005, 9000), 4), QueueAction::kDrop);  // table full
  ASSERT_EQ(sink.decided.size(), 1u);
  EXPECT_EQ(sink.decided[0].source(), nfr::v1::DECISION_SOURCE_OVERFLOW);
  auto c = engine->pending_counters();
  EXPECT_EQ(c.packet_overflow, 1u);
  EXPECT_EQ(c.flow_overflow, 1u);
}

TEST_F(EngineTest, EgressHookUsesTheOutputInterfaceAndDirection) {
  auto p = Tcp(40006, 9001);
  EXPECT_EQ(Send(p, 1, NFR_HOOK_REDIRECT_EGRESS, 0, 1), QueueAction::kHold);
  auto pending = engine->ListPending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].rule_id(), "egress-ask");
  EXPECT_EQ(pending[0].flow().direction(), nfr::v1::DIRECTION_EGRESS);
  EXPECT_EQ(pending[0].flow().interface(), "lo");
  // Hook 6 (native ingress) and 0 (compat PREROUTING) are both ingress.
  EXPECT_EQ(DirectionOfHook(6), nfr::v1::DIRECTION_INGRESS);
  EXPECT_EQ(DirectionOfHook(0), nfr::v1::DIRECTION_INGRESS);
}

TEST_F(EngineTest, UnparseablePacketsGetTheDefaultVerdict) {
  EXPECT_EQ(Send({0x45, 0x00}, 1), QueueAction::kDrop);
  EXPECT_EQ(engine->counters().parse_errors, 1u);
}

TEST_F(EngineTest, ShutdownResolvesEverythingWithTheDefault) {
  EXPECT_EQ(Send(Tcp(40007, 9000), 1), QueueAction::kHold);
  EXPECT_EQ(Send(Tcp(40008, 9000), 2), QueueAction::kHold);
  engine->ResolveAll("agent shutting down");
  EXPECT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sink.resolved.size(), 2u);
  EXPECT_TRUE(engine->ListPending().empty());
}

TEST_F(EngineTest, InstallPolicyIsAllOrNothing) {
  auto bad = PolicyFromText(R"pb(rules { id: "x" }
                                 default_verdict: VERDICT_ACCEPT)pb");
  auto s = engine->InstallPolicy(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->GetPolicy().rules_size(), 4);
  auto good = PolicyFromText(R"pb(version: 7 default_verdict: VERDICT_ACCEPT)pb");
  ASSERT_TRUE(engine->InstallPolicy(good).ok());
  EXPECT_EQ(engine->GetPolicy().version(), 7u);
  EXPECT_EQ(Send(Tcp(40009, 9000), 1), QueueAction::kAccept);
}

}  // namespace
}  // namespace nfr

namespace nfr {
namespace {

TEST(RecentFlowWrites, NeverForgetsAKeyWithinTheWindow) {
  RecentFlowWrites recent(1024, 60000);
  std::vector<nfr_flow_key> keys;
  for (uint32_t i = 0; i < 5000; ++i) {  // more keys than slots: buckets overflow
    nfr_flow_key k{};
    k.family = 2;
    k.proto = 17;
    k.sport = static_cast<uint16_t>(i);
    k.saddr[0] = i;
    keys.push_back(k);
    recent.Note(k);
  }
  for (const auto& k : keys) EXPECT_TRUE(recent.MaybeWritten(k));
}

TEST(RecentFlowWrites, ForgetsAfterTheWindowAndIgnoresUnusedIpv4Words) {
  RecentFlowWrites recent(1 << 16, 20);
  nfr_flow_key k{};
  k.family = 2;
  k.proto = 6;
  k.saddr[0] = 0x0a000001;
  nfr_flow_key other = k;
  other.dport = 80;
  EXPECT_FALSE(recent.MaybeWritten(k));
  recent.Note(k);
  nfr_flow_key padded = k;
  padded.saddr[2] = 7;  // not part of an IPv4 key
  EXPECT_TRUE(recent.MaybeWritten(padded));
  EXPECT_FALSE(recent.MaybeWritten(other));
  absl::SleepFor(absl::Milliseconds(80));
  EXPECT_FALSE(recent.MaybeWritten(k));
}

// The flood case: every packet a new key. Keys never written answer "no" (no lookup syscall)
// unless their bucket overflowed: 50k live keys in 2^18 slots (100k writes/s in the 500 ms
// window) leave a few of 32768 buckets over 7 keys, ~0.02 % "maybe" (a slot per key: ~18 %).
TEST(RecentFlowWrites, UnwrittenKeysAnswerNoWhileTheTableHasRoom) {
  RecentFlowWrites recent(1 << 18, 60000);
  auto key = [](uint32_t i) {
    nfr_flow_key k{};
    k.family = 2;
    k.proto = 17;
    k.sport = static_cast<uint16_t>(i);
    k.saddr[0] = i;
    return k;
  };
  for (uint32_t i = 0; i < 50000; ++i) recent.Note(key(i));
  int maybe = 0;
  for (uint32_t i = 50000; i < 250000; ++i) maybe += recent.MaybeWritten(key(i));
  EXPECT_LT(maybe, 200);
  for (uint32_t i = 0; i < 50000; ++i) ASSERT_TRUE(recent.MaybeWritten(key(i))) << i;
}

// A key and its reverse share a bucket but not an answer.
TEST(RecentFlowWrites, ReverseKeyIsNotTheKey) {
  RecentFlowWrites recent(1 << 16, 60000);
  nfr_flow_key k{};
  k.family = 10;
  k.proto = 17;
  k.sport = 1000;
  k.dport = 53;
  k.saddr[0] = 1;
  k.daddr[0] = 2;
  nfr_flow_key r = k;
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  recent.Note(k);
  EXPECT_TRUE(recent.MaybeWritten(k));
  EXPECT_FALSE(recent.MaybeWritten(r));
  recent.Note(r);
  EXPECT_TRUE(recent.MaybeWritten(r));
}

// Two writers (queue threads) into the same small table: none of their keys is lost.
TEST(RecentFlowWrites, ConcurrentWritersLoseNoKey) {
  RecentFlowWrites recent(4096, 60000);
  auto key = [](uint32_t t, uint32_t i) {
    nfr_flow_key k{};
    k.family = 10;
    k.proto = 6;
    k.saddr[0] = t;
    k.daddr[3] = i;
    return k;
  };
  std::vector<std::thread> writers;
  for (uint32_t t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (uint32_t i = 0; i < 3000; ++i) recent.Note(key(t, i));
    });
  }
  for (auto& w : writers) w.join();
  for (uint32_t t = 0; t < 2; ++t) {
    for (uint32_t i = 0; i < 3000; ++i)
      ASSERT_TRUE(recent.MaybeWritten(key(t, i))) << t << " " << i;
  }
}

}  // namespace
}  // namespace nfr
