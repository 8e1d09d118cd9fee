// HeldRing (which held packets a batch verdict must not reach) and the parser of the kernel's
// NFQUEUE proc file.
#include "agent/queue/held_ring.h"

#include "agent/queue/kernel_queue_stats.h"
#include "gtest/gtest.h"

namespace nfr {
namespace {

TEST(HeldRingTest, BatchIsSafeOnlyBelowTheOldestHeldPacket) {
  HeldRing r;
  r.Reset(8);
  EXPECT_TRUE(r.BatchSafe(100));
  r.Add(10, 0);  // handled immediately: forgotten again
  r.DropLast(10);
  EXPECT_TRUE(r.BatchSafe(100));
  r.Add(20, 0x01000000);
  r.Add(30, 0);
  EXPECT_TRUE(r.BatchSafe(19));
  EXPECT_FALSE(r.BatchSafe(20));
  EXPECT_EQ(r.MarkOf(20), 0x01000000u);
  EXPECT_EQ(r.MarkOf(25), std::nullopt);
  r.Done(30);  // answered out of order: 20 still blocks
  EXPECT_FALSE(r.BatchSafe(25));
  r.Done(20);
  EXPECT_TRUE(r.BatchSafe(1000));
  EXPECT_EQ(r.size(), 0u);
}

TEST(HeldRingTest, PacketIdsWrapAround) {
  HeldRing r;
  r.Reset(4);
  r.Add(0xfffffffe, 1);
  r.Add(2, 2);  // after the wrap
  EXPECT_TRUE(r.BatchSafe(0xfffffffd));
  EXPECT_FALSE(r.BatchSafe(0));  // 0 comes after 0xfffffffe
  EXPECT_EQ(r.MarkOf(2), 2u);
  r.Done(0xfffffffe);
  EXPECT_TRUE(r.BatchSafe(1));
  EXPECT_FALSE(r.BatchSafe(2));
}

TEST(HeldRingTest, WhenFullBatchesStopUntilEverythingIsAnswered) {
  HeldRing r;
  r.Reset(2);
  r.Add(1, 0);
  r.Add(2, 0);
  r.Add(3, 0);  // no room: untracked
  r.Done(1);
  r.Done(2);
  EXPECT_FALSE(r.BatchSafe(0));
  r.Done(3);
  EXPECT_TRUE(r.BatchSafe(10));
}

TEST(KernelQueueStatsTest, ParsesTheRowOfOneQueue) {
  const char* text =
      " 4800  12345     3 2   512     7     5   901  1\n"
      " 4801  12346     0 2   512     0     0    10  1\n";
  auto s = ParseKernelQueueStats(text, 4800);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->waiting, 3u);
  EXPECT_EQ(s->queue_dropped, 7u);
  EXPECT_EQ(s->user_dropped, 5u);
  EXPECT_EQ(s->id_sequence, 901u);
  EXPECT_EQ(ParseKernelQueueStats(text, 4802), std::nullopt);
  EXPECT_EQ(ParseKernelQueueStats("4800 garbage\n", 4800), std::nullopt);
}

}  // namespace
}  // namespace nfr
