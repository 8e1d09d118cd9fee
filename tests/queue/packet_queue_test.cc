// The queue layer against a real NFQUEUE in a throwaway network namespace: UDP over loopback is
// marked and queued by iptables in mangle OUTPUT, a POSTROUTING rule counts packets that still
// carry the mark after the verdict.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/datapath/compat_rule.h"
#include "agent/queue/queue_set.h"
#include "gtest/gtest.h"
#include "tests/bpf/netns.h"

namespace nfr::test {
namespace {

constexpr uint16_t kQueue = 4810;
constexpr int kPort = 9999;
constexpr uint32_t kMark = 0x01000000;

// Packet index = first 4 payload bytes after the IPv4 + UDP headers.
uint32_t IndexOf(const QueuedPacket& p) {
  uint32_t v = 0;
  if (p.payload.size() >= 32) std::memcpy(&v, p.payload.data() + 28, 4);
  return v;
}

class Handler : public PacketHandler {
 public:
  std::function<QueueAction(uint32_t index)> decide;
  QueueAction OnPacket(const QueuedPacket& p) override {
    const uint32_t i = IndexOf(p);
    const QueueAction a = decide(i);
    std::lock_guard<std::mutex> lock(mu);
    if (a == QueueAction::kHold) held.push_back({i, p.id, p.mark});
    return a;
  }
  struct Held {
    uint32_t index, id, mark;
  };
  std::mutex mu;
  std::vector<Held> held;
};

class PacketQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (netns, iptables, NFQUEUE)";
    std::string err;
    netns_ = ScopedNetns::Enter(&err);
    ASSERT_NE(netns_, nullptr) << err;
    ASSERT_EQ(Cmd({"ip", "link", "set", "lo", "up"}), 0);
    auto flavours = datapath::IptablesFlavours();
    ASSERT_FALSE(flavours.empty()) << "no iptables installed";
    ipt_ = flavours[0];
    const std::string port = std::to_string(kPort);
    ASSERT_EQ(Ipt({"-A", "OUTPUT", "-p", "udp", "--dport", port, "-j", "MARK", "--or-mark",
                   "0x01000000"}),
              0);
    ASSERT_EQ(Ipt({"-A", "OUTPUT", "-p", "udp", "--dport", port, "-j", "NFQUEUE", "--queue-num",
                   std::to_string(kQueue)}),
              0);
    // Rule 1 counts marked packets after the verdict, rule 2 all of them.
    ASSERT_EQ(Ipt({"-A", "POSTROUTING", "-p", "udp", "--dport", port, "-m", "mark", "--mark",
                   "0x01000000/0x01000000"}),
              0);
    ASSERT_EQ(Ipt({"-A", "POSTROUTING", "-p", "udp", "--dport", port}), 0);
    rx_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    tx_ = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 8 << 20;
    setsockopt(rx_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    // Queued packets stay charged to the sender's buffer until their verdict.
    setsockopt(tx_, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
    sockaddr_in a = Addr();
    ASSERT_EQ(bind(rx_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
  }
  void TearDown() override {
    if (rx_ >= 0) close(rx_);
    if (tx_ >= 0) close(tx_);
    netns_.reset();
  }

  int Ipt(std::vector<std::string> args) {
    args.insert(args.begin(), {ipt_, "-w", "5", "-t", "mangle"});
    return Cmd(args);
  }
  // Packet counts of the two POSTROUTING rules: {marked, all}.
  std::pair<uint64_t, uint64_t> PostroutingCounts() {
    std::string out;
    Cmd({ipt_, "-w", "5", "-t", "mangle", "-L", "POSTROUTING", "-n", "-v", "-x"}, &out);
    std::vector<uint64_t> counts;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
      uint64_t n;
      if (!f.empty() && absl::SimpleAtoi(f[0], &n)) counts.push_back(n);
    }
    if (counts.size() < 2) return {~uint64_t{0}, ~uint64_t{0}};
    return {counts[0], counts[1]};
  }
  static sockaddr_in Addr() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  void Send(uint32_t first, uint32_t count) {
    sockaddr_in a = Addr();
    char buf[32] = {};
    for (uint32_t i = first; i < first + count; ++i) {
      std::memcpy(buf, &i, 4);
      sendto(tx_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
  }
  // Indices received until `want` arrived or `wait` passed.
  std::set<uint32_t> Receive(size_t want, absl::Duration wait = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + wait;
    while (got_.size() < want && absl::Now() < deadline) {
      char buf[64];
      const ssize_t n = recv(rx_, buf, sizeof(buf), 0);
      if (n >= 4) {
        uint32_t i;
        std::memcpy(&i, buf, 4);
        got_.insert(i);
      } else {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    return got_;
  }

  std::unique_ptr<ScopedNetns> netns_;
  std::string ipt_;
  int rx_ = -1, tx_ = -1;
  std::set<uint32_t> got_;
};

TEST_F(PacketQueueTest, BatchVerdictsNeverReachHeldPacketsAndClearTheMark) {
  Handler h;
  QueueOptions o;
  o.clear_mark = kMark;
  auto set = QueueSet::Open(kQueue, 1, o, &h);
  ASSERT_TRUE(set.ok()) << set.status();
  // Phase 1: runs of accepts broken by drops; nothing held, so runs go out as batch verdicts.
  h.decide = [](uint32_t i) { return i % 10 == 7 ? QueueAction::kDrop : QueueAction::kAccept; };
  Send(0, 1000);  // queued before the thread reads: one receive sees many
  (*set)->Start();
  std::set<uint32_t> want;
  for (uint32_t i = 0; i < 1000; ++i) {
    if (i % 10 != 7) want.insert(i);
  }
  EXPECT_EQ(Receive(want.size()), want);
  EXPECT_GT((*set)->stats().batch_verdicts, 0u) << "runs of one verdict sent as batches";

  // Phase 2: every 10th packet held; the accepts around them must not carry held ones along.
  h.decide = [](uint32_t i) { return i % 10 == 3 ? QueueAction::kHold : QueueAction::kAccept; };
  Send(1000, 1000);
  for (uint32_t i = 1000; i < 2000; ++i) {
    if (i % 10 != 3) want.insert(i);
  }
  EXPECT_EQ(Receive(want.size()), want);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Receive(want.size() + 1, absl::Milliseconds(100)), want) << "a held packet passed";
  std::vector<Handler::Held> held;
  {
    std::lock_guard<std::mutex> lock(h.mu);
    held = h.held;
  }
  ASSERT_EQ(held.size(), 100u);
  // Late verdicts from another thread: even indices accept, odd drop.
  for (const auto& p : held) {
    EXPECT_EQ(p.mark & kMark, kMark);
    const bool accept = p.index % 20 == 3;
    EXPECT_TRUE((*set)->SendVerdict(kQueue, p.id, accept).ok());
    if (accept) want.insert(p.index);
  }
  EXPECT_EQ(Receive(want.size()), want);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Receive(want.size() + 1, absl::Milliseconds(100)), want) << "a dropped packet passed";

  const auto [marked, all] = PostroutingCounts();
  EXPECT_EQ(all, want.size());
  EXPECT_EQ(marked, 0u) << "accepted packets left the queue with the compat mark";
  const QueueStats s = (*set)->stats();
  EXPECT_EQ(s.received, 2000u);
  EXPECT_EQ(s.accepted, want.size());
  EXPECT_EQ(s.dropped, 2000u - want.size());
  EXPECT_EQ(s.errors, 0u);
  (*set)->Stop();
}

TEST_F(PacketQueueTest, OverflowGivesThePolicyDefaultAndIsCounted) {
  Handler h;
  h.decide = [](uint32_t) { return QueueAction::kHold; };  // nothing leaves: the queue fills
  QueueOptions o;
  o.max_len = 8;
  o.default_accepts = false;  // default-drop policy
  auto set = QueueSet::Open(kQueue, 1, o, &h);
  ASSERT_TRUE(set.ok()) << set.status();
  (*set)->Start();
  EXPECT_FALSE((*set)->overflow_accepts());
  Send(0, 100);
  EXPECT_TRUE(Receive(1, absl::Milliseconds(500)).empty()) << "overflow let a packet through";
  auto per = (*set)->PerQueue();
  ASSERT_EQ(per.size(), 1u);
  ASSERT_TRUE(per[0].kernel.has_value());
  EXPECT_EQ(per[0].kernel->waiting, 8u);
  EXPECT_EQ(per[0].overflow_dropped(), 92u);

  // An accept-by-default policy: overflow accepts (uninspected), set while the thread runs.
  ASSERT_TRUE((*set)->SetOverflowAccepts(true).ok());
  EXPECT_TRUE((*set)->overflow_accepts());
  Send(100, 50);
  EXPECT_EQ(Receive(50).size(), 50u);
  ASSERT_TRUE((*set)->SetOverflowAccepts(false).ok());
  Send(150, 50);
  EXPECT_EQ(Receive(51, absl::Milliseconds(500)).size(), 50u);
  EXPECT_EQ((*set)->PerQueue()[0].overflow_dropped(), 142u);
  (*set)->Stop();
}

TEST_F(PacketQueueTest, ConfiguredDropOverridesAnAcceptingPolicy) {
  Handler h;
  h.decide = [](uint32_t) { return QueueAction::kHold; };
  QueueOptions o;
  o.max_len = 4;
  o.overflow = OverflowVerdict::kDrop;
  o.default_accepts = true;
  auto set = QueueSet::Open(kQueue, 1, o, &h);
  ASSERT_TRUE(set.ok()) << set.status();
  (*set)->Start();
  ASSERT_TRUE((*set)->SetOverflowAccepts(true).ok());
  EXPECT_FALSE((*set)->overflow_accepts());
  Send(0, 40);
  EXPECT_TRUE(Receive(1, absl::Milliseconds(500)).empty());
  EXPECT_EQ((*set)->PerQueue()[0].overflow_dropped(), 36u);
  (*set)->Stop();
}

}  // namespace
}  // namespace nfr::test
