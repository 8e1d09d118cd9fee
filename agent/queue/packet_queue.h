// One NFQUEUE bound through libnetfilter_queue's libmnl API, read by its own
// thread: receives with recvmmsg, answers a receive batch with one sendmsg
// (NFQNL_MSG_VERDICT_BATCH for runs of one verdict), allocates nothing per
// packet. Verdicts for held packets may be sent from any thread.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "agent/queue/held_ring.h"

struct mnl_socket;
struct nlmsghdr;

namespace nfr {

struct QueuedPacket {
  uint16_t queue = 0;
  uint32_t id = 0;
  uint8_t hook = 0;          // 0 PRE_ROUTING (compat), 6 REDIRECT_INGRESS, 7 REDIRECT_EGRESS
  uint16_t hw_protocol = 0;  // ETH_P_*, host order
  uint32_t in_ifindex = 0;
  uint32_t out_ifindex = 0;
  uint32_t mark = 0;
  bool gso = false;
  // Delivered by a PacketQueue: OnBatchEnd follows on this thread before any verdict of the
  // batch is sent, so the handler may defer work (flow-cache writes) until then.
  bool batched = false;
  absl::Span<const uint8_t> payload;  // L3 packet, at most the copy range
};

enum class QueueAction { kAccept, kDrop, kHold };

// Called on the queue's thread for every packet; must not block for long.
// kHold: the handler keeps the packet id and later calls PacketQueue::Verdict.
class PacketHandler {
 public:
  virtual ~PacketHandler() = default;
  virtual QueueAction OnPacket(const QueuedPacket& packet) = 0;
  // On the queue's thread after a receive batch, before its verdicts go out.
  virtual void OnBatchEnd() {}
};

// What the kernel does with a packet when the queue (or our socket) is full.
enum class OverflowVerdict {
  kPolicyDefault,  // the policy's default verdict (QueueSet::SetOverflowAccepts)
  kAccept,         // NFQA_CFG_F_FAIL_OPEN always: overload lets traffic pass uninspected
  kDrop,           // never fail open
};

struct QueueOptions {
  uint32_t max_len = 4096;
  uint32_t socket_buffer_bytes = 8u << 20;
  uint32_t copy_range = 512;  // headers only; the parser never needs more
  OverflowVerdict overflow = OverflowVerdict::kPolicyDefault;
  bool default_accepts = false;  // the policy's default verdict when the queue opens
  // skb->mark bits to clear on accept when the packet carries them (the compat-mode mark), so
  // routing and other mark users after the queue never see them. 0 leaves the mark alone.
  uint32_t clear_mark = 0;
};

// Whether the kernel accepts (fail-open) on overflow under `options` and the policy's default.
bool OverflowAccepts(OverflowVerdict overflow, bool default_accepts);

struct QueueStats {
  uint64_t received = 0;
  uint64_t accepted = 0;
  uint64_t dropped = 0;
  uint64_t held = 0;            // packets handed to the handler as kHold
  uint64_t enobufs = 0;         // socket overruns: the kernel lost messages to us
  uint64_t batch_verdicts = 0;  // NFQNL_MSG_VERDICT_BATCH messages sent
  uint64_t errors = 0;          // netlink errors and malformed messages
};

class PacketQueue {
 public:
  // Binds queue `num` (COPY_PACKET, GSO, FAIL_OPEN per options.overflow, maxlen,
  // receive buffer). Errors say what to fix (root, queue already bound).
  static absl::StatusOr<std::unique_ptr<PacketQueue>> Open(uint16_t num,
                                                           const QueueOptions& options,
                                                           PacketHandler* handler);
  ~PacketQueue();
  PacketQueue(const PacketQueue&) = delete;
  PacketQueue& operator=(const PacketQueue&) = delete;

  void Start();  // starts the reading thread
  // Handles every packet already queued, then stops and joins the thread; the
  // binding stays until destruction.
  void Stop();

  // Verdict for a packet the handler held. Thread-safe.
  absl::Status Verdict(uint32_t id, bool accept);

  // Sets or clears NFQA_CFG_F_FAIL_OPEN on the bound queue; waits for the kernel's answer.
  // Thread-safe, also while the reading thread runs.
  absl::Status SetFailOpen(bool fail_open);
  bool fail_open() const { return fail_open_.load(); }

  uint16_t num() const { return num_; }
  QueueStats stats() const;

 private:
  PacketQueue(uint16_t num, PacketHandler* handler) : num_(num), handler_(handler) {}
  absl::Status Configure(const QueueOptions& options);
  absl::Status Transact(nlmsghdr* nlh, const char* what);
  absl::Status Send(const void* data, size_t len);
  void Loop();
  // Reads what the socket holds in recvmmsg batches (at most `rounds` of them), then
  // answers. Returns false when nothing was read.
  bool ReceiveBatch(int rounds);
  void HandleMessage(const nlmsghdr* nlh);
  void NoteAck(uint32_t seq, int error);
  void FlushVerdicts();

  const uint16_t num_;
  PacketHandler* const handler_;
  mnl_socket* nl_ = nullptr;
  int fd_ = -1;
  int stop_fd_ = -1;
  std::atomic<uint32_t> seq_{0};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> fail_open_{false};
  uint32_t clear_mark_ = 0;

  // Receive side (queue thread only): one slot per datagram, allocated at Open.
  size_t slot_size_ = 0;
  std::unique_ptr<char[]> slots_;
  std::unique_ptr<mmsghdr[]> msgs_;
  std::unique_ptr<iovec[]> iovs_;

  // Answers to requests sent with NLM_F_ACK, matched by sequence number.
  absl::Mutex ack_mu_;
  uint32_t ack_seq_ ABSL_GUARDED_BY(ack_mu_) = 0;
  int ack_errno_ ABSL_GUARDED_BY(ack_mu_) = -1;  // -1: no answer yet

  // Immediate verdicts collected over one receive batch (queue thread only).
  struct Pending {
    uint32_t id;
    uint32_t mark;  // mark to set, when set_mark
    bool accept;
    bool set_mark;
  };
  std::vector<Pending> batch_;
  std::unique_ptr<char[]> out_;  // the verdict datagram being built
  size_t out_size_ = 0;

  // Held packets without a verdict yet, oldest first: a batch verdict must never reach one.
  HeldRing held_;

  std::atomic<uint64_t> received_{0}, accepted_{0}, dropped_{0}, held_count_{0}, enobufs_{0},
      batch_verdicts_{0}, errors_{0};
};

}  // namespace nfr
