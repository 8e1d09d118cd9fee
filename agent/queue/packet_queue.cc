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

#include <cerrno>
#include <cstring>

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

constexpr size_t kRecvBufferSize = 128 * 1024;
constexpr int kMaxBatch = 64;
constexpr uint16_t kPacketMsgType = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;

}  // namespace

absl::StatusOr<std::unique_ptr<PacketQueue>> PacketQueue::Open(uint16_t num,
                                                               const QueueOptions& options,
                                                               PacketHandler* handler) {
  std::unique_ptr<PacketQueue> q(new PacketQueue(num, handler));
  q->buf_size_ = kRecvBufferSize;
  q->buf_ = std::make_unique<char[]>(q->buf_size_);
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
  q->portid_ = mnl_socket_get_portid(q->nl_);
  q->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (q->stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  if (auto s = q->Configure(options); !s.ok()) return s;
  return q;
}

absl::Status PacketQueue::Configure(const QueueOptions& options) {
  const int fd = mnl_socket_get_fd(nl_);
  int size = static_cast<int>(options.socket_buffer_bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));  // capped by rmem_max
  }

  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  if (auto s = Transact(nlh, "bind"); !s.ok()) return s;

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num_);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, static_cast<int>(options.copy_range));
  nfq_nlmsg_cfg_put_qmaxlen(nlh, options.max_len);
  const uint32_t flags = NFQA_CFG_F_GSO | (options.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  return Transact(nlh, "configure (copy range, queue length, GSO and fail-open flags)");
}

absl::Status PacketQueue::Send(const nlmsghdr* nlh) {
  absl::MutexLock lock(&send_mu_);
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    ++errors_;
    return absl::UnavailableError(
        absl::StrCat("NFQUEUE ", num_, ": sending to the kernel: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status PacketQueue::Transact(nlmsghdr* nlh, const char* what) {
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = ack_seq_ = ++seq_;
  ack_errno_ = -1;
  if (auto s = Send(nlh); !s.ok()) return s;
  const int fd = mnl_socket_get_fd(nl_);
  for (int waited_ms = 0; ack_errno_ < 0 && waited_ms < 5000;) {
    pollfd p = {fd, POLLIN, 0};
    const int r = poll(&p, 1, 100);
    if (r == 0) waited_ms += 100;
    if (r > 0) ReceiveBatch(kMaxBatch);  // packets may already arrive: handled normally
  }
  ack_seq_ = 0;
  if (ack_errno_ < 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("NFQUEUE ", num_, ": no answer from the kernel to ", what));
  }
  if (ack_errno_ == 0) return absl::OkStatus();
  const std::string err =
      absl::StrCat("NFQUEUE ", num_, ": ", what, ": ", std::strerror(ack_errno_));
  if (ack_errno_ == EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat(
        err, "; another process has bound this queue: stop it or set queue.num/--queue_num"));
  }
  if (ack_errno_ == EPERM) {
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
    (void)Send(nlh);
    mnl_socket_close(nl_);
  }
  if (stop_fd_ >= 0) close(stop_fd_);
}

void PacketQueue::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void PacketQueue::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  thread_.join();
  uint64_t drain;
  (void)!read(stop_fd_, &drain, sizeof(drain));
}

void PacketQueue::Loop() {
  const int fd = mnl_socket_get_fd(nl_);
  while (!stopping_) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno != EINTR) ++errors_;
      continue;
    }
    if (fds[1].revents != 0) {
      // Barrier for shutdown: what the kernel queued before Stop gets its verdict.
      while (ReceiveBatch(kMaxBatch)) {
      }
      break;
    }
    // ENOBUFS arrives as a pending socket error (POLLERR); recv() reports it.
    ReceiveBatch(kMaxBatch);
  }
}

bool PacketQueue::ReceiveBatch(int max) {
  const int fd = mnl_socket_get_fd(nl_);
  bool any = false;
  for (int i = 0; i < max; ++i) {
    const ssize_t n = recv(fd, buf_.get(), buf_size_, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        ++enobufs_;  // the kernel dropped (or, fail-open, accepted) messages for us
        continue;
      }
      ++errors_;
      break;
    }
    if (static_cast<size_t>(n) > buf_size_) {
      ++errors_;  // truncated datagram: cannot be parsed safely
      continue;
    }
    any = true;
    size_t len = static_cast<size_t>(n);
    for (const nlmsghdr* nlh = reinterpret_cast<const nlmsghdr*>(buf_.get());
         mnl_nlmsg_ok(nlh, static_cast<int>(len));
         nlh = mnl_nlmsg_next(nlh, reinterpret_cast<int*>(&len))) {
      HandleMessage(nlh);
    }
  }
  FlushVerdicts();
  return any;
}

void PacketQueue::HandleMessage(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) {
      ++errors_;
      return;
    }
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    if (ack_seq_ != 0 && nlh->nlmsg_seq == ack_seq_) {
      ack_errno_ = -err->error;
    } else if (err->error != 0) {
      ++errors_;  // e.g. a verdict for an id the kernel no longer holds
    }
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
  ++held_now_;  // counted as held until the handler says otherwise: keeps batching safe
  const QueueAction action = handler_->OnPacket(p);
  if (action == QueueAction::kHold) {
    ++held_;
    return;
  }
  --held_now_;
  batch_.push_back({p.id, action == QueueAction::kAccept});
}

void PacketQueue::FlushVerdicts() {
  if (batch_.empty()) return;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  bool same = true;
  uint32_t max_id = 0;
  for (const auto& v : batch_) {
    same &= v.accept == batch_.front().accept;
    max_id = std::max(max_id, v.id);
  }
  // A batch verdict covers every id <= max_id still in the queue: only safe
  // when this queue holds nothing for later.
  if (batch_.size() > 1 && same && held_now_.load() == 0) {
    nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, num_);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(max_id),
                          batch_.front().accept ? NF_ACCEPT : NF_DROP);
    if (Send(nlh).ok()) {
      ++batch_verdicts_;
      (batch_.front().accept ? accepted_ : dropped_) += batch_.size();
      batch_.clear();
      return;
    }
  }
  for (const auto& v : batch_) {
    nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, num_);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(v.id), v.accept ? NF_ACCEPT : NF_DROP);
    if (Send(nlh).ok()) ++(v.accept ? accepted_ : dropped_);
  }
  batch_.clear();
}

absl::Status PacketQueue::Verdict(uint32_t id, bool accept) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, num_);
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), accept ? NF_ACCEPT : NF_DROP);
  --held_now_;
  if (auto s = Send(nlh); !s.ok()) return s;
  ++(accept ? accepted_ : dropped_);
  return absl::OkStatus();
}

QueueStats PacketQueue::stats() const {
  return {received_.load(), accepted_.load(),       dropped_.load(), held_.load(),
          enobufs_.load(),  batch_verdicts_.load(), errors_.load()};
}

}  // namespace nfr
