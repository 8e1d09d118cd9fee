// One NFQUEUE bound through libnetfilter_queue's libmnl API, read by its own
// thread. Verdicts for held packets may be sent from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

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
  absl::Span<const uint8_t> payload;  // L3 packet, at most the copy range
};

enum class QueueAction { kAccept, kDrop, kHold };

// Called on the queue's thread for every packet; must not block for long.
// kHold: the handler keeps the packet id and later calls PacketQueue::Verdict.
class PacketHandler {
 public:
  virtual ~PacketHandler() = default;
  virtual QueueAction OnPacket(const QueuedPacket& packet) = 0;
};

struct QueueOptions {
  uint32_t max_len = 4096;
  uint32_t socket_buffer_bytes = 8u << 20;
  uint32_t copy_range = 512;  // headers only; the parser never needs more
  bool fail_open = true;      // NFQA_CFG_F_FAIL_OPEN: accept when the queue is full
};

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
  // Binds queue `num` (COPY_PACKET, GSO, FAIL_OPEN unless disabled, maxlen,
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

  uint16_t num() const { return num_; }
  QueueStats stats() const;

 private:
  PacketQueue(uint16_t num, PacketHandler* handler) : num_(num), handler_(handler) {}
  absl::Status Configure(const QueueOptions& options);
  absl::Status Transact(nlmsghdr* nlh, const char* what);
  absl::Status Send(const nlmsghdr* nlh);
  void Loop();
  // Reads up to `max` datagrams; returns false when nothing was read.
  bool ReceiveBatch(int max);
  void HandleMessage(const nlmsghdr* nlh);
  void FlushVerdicts();

  const uint16_t num_;
  PacketHandler* const handler_;
  mnl_socket* nl_ = nullptr;
  unsigned portid_ = 0;
  int stop_fd_ = -1;
  uint32_t seq_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  absl::Mutex send_mu_;
  std::unique_ptr<char[]> buf_;
  size_t buf_size_ = 0;
  uint32_t ack_seq_ = 0;  // sequence Transact waits for
  int ack_errno_ = -1;    // -1: no ACK yet

  // Immediate verdicts collected over one receive batch (queue thread only).
  struct Pending {
    uint32_t id;
    bool accept;
  };
  std::vector<Pending> batch_;
  std::atomic<int64_t> held_now_{0};  // held packets without a verdict yet

  std::atomic<uint64_t> received_{0}, accepted_{0}, dropped_{0}, held_{0}, enobufs_{0},
      batch_verdicts_{0}, errors_{0};
};

}  // namespace nfr
