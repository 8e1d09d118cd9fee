#include "agent/queue/queue_set.h"

#include "absl/strings/str_cat.h"

namespace nfr {

absl::StatusOr<std::unique_ptr<QueueSet>> QueueSet::Open(uint16_t first, uint16_t count,
                                                         const QueueOptions& options,
                                                         PacketHandler* handler) {
  auto set = std::make_unique<QueueSet>();
  set->first_ = first;
  set->overflow_ = options.overflow;
  for (uint32_t i = 0; i < count; ++i) {
    auto q = PacketQueue::Open(static_cast<uint16_t>(first + i), options, handler);
    if (!q.ok()) return q.status();
    set->queues_.push_back(std::move(*q));
  }
  return set;
}

void QueueSet::Start() {
  for (auto& q : queues_) q->Start();
}

void QueueSet::Stop() {
  for (auto& q : queues_) q->Stop();
}

absl::Status QueueSet::SendVerdict(uint16_t queue, uint32_t packet_id, bool accept) {
  const uint32_t index = queue - first_;
  if (queue < first_ || index >= queues_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("queue ", queue, " is not ours"));
  }
  return queues_[index]->Verdict(packet_id, accept);
}

absl::Status QueueSet::SetOverflowAccepts(bool policy_default_accepts) {
  const bool fail_open = OverflowAccepts(overflow_, policy_default_accepts);
  absl::Status first;
  for (auto& q : queues_) {
    if (q->fail_open() == fail_open) continue;
    if (auto s = q->SetFailOpen(fail_open); !s.ok() && first.ok()) first = s;
  }
  return first;
}

bool QueueSet::overflow_accepts() const {
  for (const auto& q : queues_) {
    if (q->fail_open()) return true;
  }
  return false;
}

QueueStats QueueSet::stats() const {
  QueueStats sum;
  for (const auto& q : queues_) {
    const QueueStats s = q->stats();
    sum.received += s.received;
    sum.accepted += s.accepted;
    sum.dropped += s.dropped;
    sum.held += s.held;
    sum.enobufs += s.enobufs;
    sum.batch_verdicts += s.batch_verdicts;
    sum.errors += s.errors;
  }
  return sum;
}

std::vector<QueueInfo> QueueSet::PerQueue() const {
  std::vector<QueueInfo> out;
  for (const auto& q : queues_) {
    out.push_back({q->num(), q->fail_open(), q->stats(), ReadKernelQueueStats(q->num())});
  }
  return out;
}

std::vector<uint32_t> QueueSet::numbers() const {
  std::vector<uint32_t> out;
  for (const auto& q : queues_) out.push_back(q->num());
  return out;
}

}  // namespace nfr
