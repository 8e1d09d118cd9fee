#include "agent/queue/packet_queue.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace nfr {
namespace {

constexpr unsigned kSlots = 64;        // datagrams per recvmmsg
constexpr int kRoundsPerWakeup = 16;   // recvmmsg rounds before polling again
constexpr size_t kMaxVerdictMsg = 64;  // nlmsghdr + nfgenmsg + verdict + mark, aligned
constexpr uint16_t kPacketMsgType = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
constexpr absl::Duration kAckTimeout = absl::Seconds(5);

// A verdict message (single or batch) for `id` at `buf`; returns its length.
size_t PutVerdict(char* buf, uint16_t queue, int type, uint32_t id, bool accept, bool set_mark,
                  uint32_t mark) {
  nlmsghdr* nlh = nfq_nlmsg_put(buf, type, queue);
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), accept ? NF_ACCEPT : NF_DROP);
  if (set_mark) nfq_nlmsg_verdict_put_mark(nlh, mark);
  return nlh->nlmsg_len;
}

}  // namespace

bool OverflowAccepts(OverflowVerdict overflow, bool default_accepts) {
  switch (overflow) {
    case OverflowVerdict::kAccept:
      return true;
    case OverflowVerdict::kDrop:
      return false;
    case OverflowVerdict::kPolicyDefault:
      break;
  }
  return default_accepts;
}

absl::StatusOr<std::unique_ptr<PacketQueue>> PacketQueue::Open(uint16_t num,
                                                               const QueueOptions& options,
                                                               PacketHandler* handler) {
  std::unique_ptr<PacketQueue> q(new PacketQueue(num, handler));
  q->clear_mark_ = options.clear_mark;
  q->slot_size_ = (std::max<size_t>(4096, options.copy_range + 1024) + 7) & ~size_t{7};
  q->slots_ = std::make_unique<char[]>(q->slot_size_ * kSlots);
  q->msgs_ = std::make_unique<mmsghdr[]>(kSlots);
  q->iovs_ = std::make_unique<iovec[]>(kSlots);
  for (unsigned i = 0; i < kSlots; ++i) {
    q->iovs_[i] = {q->slots_.get() + i * q->slot_size_, q->slot_size_};
    q->msgs_[i] = {};
    q->msgs_[i].msg_hdr.msg_iov = &q->iovs_[i];
    q->msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  q->batch_.reserve(kSlots);
  q->out_size_ = kSlots * kMaxVerdictMsg;
  q->out_ = std::make_unique<char[]>(q->out_size_);
  q->held_.Reset(options.max_len);
  q->nl_ = mnl_socket_open(NETLINK_NETFILTER);
  if (q->nl_ == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "NFQUEUE ", num, ": cannot open a netfilter netlink socket: ", std::strerror(errno),
        "; run nfr-agent as root (CAP_NET_ADMIN)"));
  }
  if (mnl_socket_bind(q->nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    return absl::InternalError(
        absl::StrCat("NFQUEUE ", num, ": binding the netlink socket: ", std::strerror(errno)));
  }
  q->fd_ = mnl_socket_get_fd(q->nl_);
  q->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (q->stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  if (auto s = q->Configure(options); !s.ok()) return s;
  return q;
}

absl::Status PacketQueue::Configure(const QueueOptions& options) {
  int size = static_cast<int>(options.socket_buffer_bytes);
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));  // capped by rmem_max
  }

  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  if (auto s = Transact(nlh, "bind"); !s.ok()) return s;

  const bool fail_open = OverflowAccepts(options.overflow, options.default_accepts);
  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, static_cast<int>(options.copy_range));
  nfq_nlmsg_cfg_put_qmaxlen(nlh, options.max_len);
  const uint32_t flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  auto s = Transact(nlh, "configure (copy range, queue length, GSO and fail-open flags)");
  if (s.ok()) fail_open_ = fail_open;
  return s;
}

absl::Status PacketQueue::SetFailOpen(bool fail_open) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(fail_open ? NFQA_CFG_F_FAIL_OPEN : 0));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
  auto s = Transact(nlh, "set the fail-open flag");
  if (s.ok()) fail_open_ = fail_open;
  return s;
}

absl::Status PacketQueue::Send(const void* data, size_t len) {
  if (sendto(fd_, data, len, 0, nullptr, 0) < 0) {
    ++errors_;
    return absl::UnavailableError(
        absl::StrCat("NFQUEUE ", num_, ": sending to the kernel: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void PacketQueue::NoteAck(uint32_t seq, int error) {
  absl::MutexLock lock(&ack_mu_);
  if (ack_seq_ != 0 && seq == ack_seq_) {
    ack_errno_ = error;
  } else if (error != 0) {
    ++errors_;  // e.g. a verdict for an id the kernel no longer holds
  }
}

absl::Status PacketQueue::Transact(nlmsghdr* nlh, const char* what) {
  const uint32_t seq = ++seq_;
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  {
    absl::MutexLock lock(&ack_mu_);
    // One request at a time: wait for a previous caller's answer slot to free up.
    ack_mu_.AwaitWithTimeout(absl::Condition(
                                 +[](uint32_t* s) { return *s == 0; }, &ack_seq_),
                             kAckTimeout);
    ack_seq_ = seq;
    ack_errno_ = -1;
  }
  absl::Status sent = Send(nlh, nlh->nlmsg_len);
  int answer = -1;
  if (sent.ok() && running_) {
    // The queue thread reads the answer.
    absl::MutexLock lock(&ack_mu_);
    ack_mu_.AwaitWithTimeout(absl::Condition(
                                 +[](int* e) { return *e >= 0; }, &ack_errno_),
                             kAckTimeout);
    answer = ack_errno_;
  } else if (sent.ok()) {
    for (absl::Time deadline = absl::Now() + kAckTimeout; absl::Now() < deadline;) {
      pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) ReceiveBatch(1);  // packets may already arrive: handled normally
      absl::MutexLock lock(&ack_mu_);
      if (ack_errno_ >= 0) break;
    }
    absl::MutexLock lock(&ack_mu_);
    answer = ack_errno_;
  }
  {
    absl::MutexLock lock(&ack_mu_);
    ack_seq_ = 0;
  }
  if (!sent.ok()) return sent;
  if (answer < 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("NFQUEUE ", num_, ": no answer from the kernel to ", what));
  }
  if (answer == 0) return absl::OkStatus();
  const std::string err = absl::StrCat("NFQUEUE ", num_, ": ", what, ": ", std::strerror(answer));
  if (answer == EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat(
        err, "; another process has bound this queue: stop it or set queue.num/--queue_num"));
  }
  if (answer == EPERM) {
    return absl::PermissionDeniedError(absl::StrCat(err, "; run nfr-agent as root"));
  }
  return absl::InternalError(err);
}

PacketQueue::~PacketQueue() {
  Stop();
  if (nl_ != nullptr) {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
    (void)Send(nlh, nlh->nlmsg_len);
    mnl_socket_close(nl_);
  }
  if (stop_fd_ >= 0) close(stop_fd_);
}

void PacketQueue::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void PacketQueue::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  thread_.join();
  running_ = false;
  uint64_t drain;
  (void)!read(stop_fd_, &drain, sizeof(drain));
}

void PacketQueue::Loop() {
  while (!stopping_) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno != EINTR) ++errors_;
      continue;
    }
    if (fds[1].revents != 0) {
      // Barrier for shutdown: what the kernel queued before Stop gets its verdict.
      while (ReceiveBatch(kRoundsPerWakeup)) {
      }
      break;
    }
    // POLLERR: ENOBUFS is a pending socket error; recvmmsg below picks it up.
    ReceiveBatch(kRoundsPerWakeup);
  }
}

bool PacketQueue::ReceiveBatch(int rounds) {
  bool any = false;
  for (int round = 0; round < rounds; ++round) {
    const int n = recvmmsg(fd_, msgs_.get(), kSlots, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        ++enobufs_;  // the kernel lost messages for us (dropped or, fail-open, accepted them)
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++errors_;
      break;
    }
    any = true;
    for (int i = 0; i < n; ++i) {
      if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ++errors_;  // truncated datagram: cannot be parsed safely
        continue;
      }
      int len = static_cast<int>(msgs_[i].msg_len);
      for (const nlmsghdr* nlh = static_cast<const nlmsghdr*>(iovs_[i].iov_base);
           mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        HandleMessage(nlh);
      }
    }
    FlushVerdicts();
    if (static_cast<unsigned>(n) < kSlots) break;  // the socket is empty
  }
  return any;
}

void PacketQueue::HandleMessage(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
      ++errors_;
      return;
    }
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    NoteAck(nlh->nlmsg_seq, -err->error);
    return;
  }
  if (nlh->nlmsg_type != kPacketMsgType) return;

  nlattr* attr[NFQA_MAX + 1] = {};
  if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == nullptr ||
      mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(nfqnl_msg_packet_hdr)) {
    ++errors_;
    return;
  }
  const auto* ph =
      static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
  QueuedPacket p;
  p.batched = true;
  p.queue = num_;
  p.id = ntohl(ph->packet_id);
  p.hook = ph->hook;
  p.hw_protocol = ntohs(ph->hw_protocol);
  if (attr[NFQA_IFINDEX_INDEV]) p.in_ifindex = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
  if (attr[NFQA_IFINDEX_OUTDEV]) {
    p.out_ifindex = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
  }
  if (attr[NFQA_MARK]) p.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
  if (attr[NFQA_SKB_INFO]) {
    p.gso = (ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) & NFQA_SKB_GSO) != 0;
  }
  if (attr[NFQA_PAYLOAD]) {
    p.payload =
        absl::MakeConstSpan(static_cast<const uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD])),
                            mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]));
  }
  ++received_;
  if (batch_.size() == batch_.capacity()) FlushVerdicts();
  // Held until the handler says otherwise: another thread may answer it before we return.
  held_.Add(p.id, p.mark);
  const QueueAction action = handler_->OnPacket(p);
  if (action == QueueAction::kHold) {
    ++held_count_;
    return;
  }
  held_.DropLast(p.id);
  const bool accept = action == QueueAction::kAccept;
  const bool set_mark = accept && (p.mark & clear_mark_) != 0;
  batch_.push_back({p.id, p.mark & ~clear_mark_, accept, set_mark});
}

void PacketQueue::FlushVerdicts() {
  handler_->OnBatchEnd();  // deferred flow-cache writes land before the verdicts
  if (batch_.empty()) return;
  char* out = out_.get();
  size_t len = 0;
  uint64_t batches = 0;
  for (size_t i = 0; i < batch_.size();) {
    // A run of one verdict (and one resulting mark): ids i..j-1, increasing.
    size_t j = i + 1;
    const Pending& first = batch_[i];
    while (j < batch_.size() && batch_[j].accept == first.accept &&
           batch_[j].set_mark == first.set_mark &&
           (!first.set_mark || batch_[j].mark == first.mark)) {
      ++j;
    }
    // A batch verdict covers every id <= the run's last still queued: earlier runs are answered
    // by the messages before it; held packets must not be reached.
    const Pending& last = batch_[j - 1];
    if (j - i > 1 && held_.BatchSafe(last.id)) {
      len += PutVerdict(out + len, num_, NFQNL_MSG_VERDICT_BATCH, last.id, first.accept,
                        first.set_mark, first.mark);
      ++batches;
    } else {
      for (size_t k = i; k < j; ++k) {
        len += PutVerdict(out + len, num_, NFQNL_MSG_VERDICT, batch_[k].id, batch_[k].accept,
                          batch_[k].set_mark, batch_[k].mark);
      }
    }
    i = j;
  }
  if (Send(out, len).ok()) {
    batch_verdicts_ += batches;
    for (const Pending& v : batch_) ++(v.accept ? accepted_ : dropped_);
  }
  batch_.clear();
}

absl::Status PacketQueue::Verdict(uint32_t id, bool accept) {
  const std::optional<uint32_t> mark = held_.MarkOf(id);
  const bool set_mark = accept && mark.has_value() && (*mark & clear_mark_) != 0;
  char buf[kMaxVerdictMsg];
  const size_t len = PutVerdict(buf, num_, NFQNL_MSG_VERDICT, id, accept, set_mark,
                                set_mark ? *mark & ~clear_mark_ : 0);
  absl::Status s = Send(buf, len);
  held_.Done(id);  // only now: a batch verdict sent before this one would have reached it
  if (!s.ok()) return s;
  ++(accept ? accepted_ : dropped_);
  return absl::OkStatus();
}

QueueStats PacketQueue::stats() const {
  return {received_.load(), accepted_.load(),       dropped_.load(), held_count_.load(),
          enobufs_.load(),  batch_verdicts_.load(), errors_.load()};
}

}  // namespace nfr
