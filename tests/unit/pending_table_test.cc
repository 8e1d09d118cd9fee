#include "agent/pending/pending_table.h"

#include <thread>

#include "gtest/gtest.h"

namespace nfr {
namespace {

using Outcome = PendingTable::Outcome;

nfr_flow_key Key(uint16_t sport) {
  nfr_flow_key k{};
  k.family = 2;
  k.proto = 6;
  k.sport = sport;
  k.dport = 80;
  k.saddr[0] = 0x0200000a;
  k.daddr[0] = 0x0201000a;
  return k;
}

nfr::v1::Flow FlowRecord(uint16_t sport) {
  nfr::v1::Flow f;
  f.set_family(4);
  f.set_protocol(nfr::v1::PROTOCOL_TCP);
  f.set_src_addr("10.0.0.2");
  f.set_dst_addr("10.0.1.2");
  f.set_src_port(sport);
  f.set_dst_port(80);
  return f;
}

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(PendingTable, OneEntryPerFlowHowManyPacketsItHolds) {
  PendingTable t({.max_flows = 10, .max_packets_per_flow = 3});
  auto a = t.Add(Key(1), {0, 100}, FlowRecord(1), "ask", kT0, absl::Seconds(5));
  ASSERT_EQ(a.outcome, Outcome::kAdded);
  EXPECT_EQ(a.added.id(), a.id);
  EXPECT_EQ(a.added.rule_id(), "ask");
  EXPECT_EQ(a.added.packets(), 1u);
  EXPECT_EQ(a.added.first_seen().seconds(), 1700000000);
  EXPECT_EQ(a.added.deadline().seconds(), 1700000005);

  auto j = t.Join(Key(1), {0, 101});
  EXPECT_EQ(j.outcome, Outcome::kJoined);
  EXPECT_EQ(j.id, a.id);
  auto again = t.Add(Key(1), {1, 102}, FlowRecord(1), "ask", kT0, absl::Seconds(5));
  EXPECT_EQ(again.outcome, Outcome::kJoined);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Get(a.id)->packets(), 3u);

  // Beyond max_packets_per_flow: the packet is not held, the caller decides it now.
  EXPECT_EQ(t.Join(Key(1), {0, 103}).outcome, Outcome::kPacketLimit);
  EXPECT_EQ(t.counters().packet_overflow, 1u);

  EXPECT_EQ(t.Join(Key(2), {0, 104}).outcome, Outcome::kNotPending);

  auto r = t.Resolve(a.id);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->packets.size(), 3u);
  EXPECT_EQ(r->packets[0].id, 100u);
  EXPECT_EQ(r->packets[2].queue, 1u);
  EXPECT_EQ(r->info.packets(), 3u);
  EXPECT_EQ(r->key.sport, 1);
  EXPECT_FALSE(t.Resolve(a.id).has_value());
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Join(Key(1), {0, 105}).outcome, Outcome::kNotPending);
}

TEST(PendingTable, MaxFlowsOverflow) {
  PendingTable t({.max_flows = 2, .max_packets_per_flow = 4});
  EXPECT_EQ(t.Add(Key(1), {0, 1}, FlowRecord(1), "", kT0, absl::Seconds(1)).outcome,
            Outcome::kAdded);
  EXPECT_EQ(t.Add(Key(2), {0, 2}, FlowRecord(2), "", kT0, absl::Seconds(1)).outcome,
            Outcome::kAdded);
  EXPECT_EQ(t.Add(Key(3), {0, 3}, FlowRecord(3), "", kT0, absl::Seconds(1)).outcome,
            Outcome::kTableFull);
  // Existing flows still take packets when the table is full.
  EXPECT_EQ(t.Add(Key(2), {0, 4}, FlowRecord(2), "", kT0, absl::Seconds(1)).outcome,
            Outcome::kJoined);
  EXPECT_EQ(t.counters().flow_overflow, 1u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(PendingTable, ExpiresInDeadlineOrder) {
  PendingTable t({.max_flows = 10, .max_packets_per_flow = 4});
  auto a = t.Add(Key(1), {0, 1}, FlowRecord(1), "", kT0, absl::Seconds(3));
  auto b = t.Add(Key(2), {0, 2}, FlowRecord(2), "", kT0, absl::Seconds(1));
  auto c = t.Add(Key(3), {0, 3}, FlowRecord(3), "", kT0 + absl::Seconds(1), absl::Seconds(1));
  EXPECT_EQ(*t.NextDeadline(), kT0 + absl::Seconds(1));
  EXPECT_TRUE(t.ExpireDue(kT0 + absl::Milliseconds(999)).empty());
  auto due = t.ExpireDue(kT0 + absl::Seconds(2));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].info.id(), b.id);
  EXPECT_EQ(due[1].info.id(), c.id);
  EXPECT_EQ(t.counters().expired, 2u);
  EXPECT_EQ(*t.NextDeadline(), kT0 + absl::Seconds(3));
  auto snap = t.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].id(), a.id);
  EXPECT_EQ(snap[0].flow().src_port(), 1u);
  auto all = t.TakeAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(t.NextDeadline().has_value());
}

TEST(PendingTable, ConcurrentAddsOfOneFlowMakeOneEntry) {
  PendingTable t({.max_flows = 100, .max_packets_per_flow = 1000});
  std::vector<std::thread> threads;
  for (int q = 0; q < 4; ++q) {
    threads.emplace_back([&t, q] {
      for (uint32_t i = 0; i < 200; ++i) {
        t.Add(Key(static_cast<uint16_t>(i % 5)), {static_cast<uint16_t>(q), i}, FlowRecord(1), "",
              kT0, absl::Seconds(1));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.size(), 5u);
  size_t held = 0;
  for (auto& r : t.TakeAll()) held += r.packets.size();
  EXPECT_EQ(held, 800u);
}

}  // namespace
}  // namespace nfr
