#include "agent/queue/held_ring.h"

#include <bit>

namespace nfr {
namespace {

// a is after b in the kernel's wrapping packet-id order (nfq_id_after).
bool After(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

}  // namespace

void HeldRing::Reset(size_t capacity) {
  absl::MutexLock lock(&mu_);
  ring_.assign(std::bit_ceil(capacity < 2 ? size_t{2} : capacity), Entry{});
  mask_ = ring_.size() - 1;
  head_ = tail_ = untracked_ = 0;
}

void HeldRing::Add(uint32_t id, uint32_t mark) {
  absl::MutexLock lock(&mu_);
  if (tail_ - head_ == ring_.size()) {
    ++untracked_;
    return;
  }
  ring_[tail_++ & mask_] = {id, mark, true};
}

void HeldRing::DropLast(uint32_t id) {
  absl::MutexLock lock(&mu_);
  if (tail_ > head_ && ring_[(tail_ - 1) & mask_].id == id) {
    --tail_;
  } else if (untracked_ > 0) {
    --untracked_;
  }
}

int64_t HeldRing::Find(uint32_t id) {
  uint64_t lo = head_, hi = tail_;
  if (lo == hi) return -1;
  const uint32_t base = ring_[head_ & mask_].id;
  const uint32_t key = id - base;
  while (lo < hi) {  // first entry with (entry.id - base) >= key
    const uint64_t mid = lo + (hi - lo) / 2;
    if (ring_[mid & mask_].id - base < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == tail_ || ring_[lo & mask_].id != id) return -1;
  return static_cast<int64_t>(lo);
}

std::optional<uint32_t> HeldRing::MarkOf(uint32_t id) {
  absl::MutexLock lock(&mu_);
  const int64_t i = Find(id);
  if (i < 0) return std::nullopt;
  return ring_[static_cast<uint64_t>(i) & mask_].mark;
}

void HeldRing::Done(uint32_t id) {
  absl::MutexLock lock(&mu_);
  const int64_t i = Find(id);
  if (i < 0) {
    if (untracked_ > 0) --untracked_;
    return;
  }
  ring_[static_cast<uint64_t>(i) & mask_].open = false;
  while (head_ < tail_ && !ring_[head_ & mask_].open) ++head_;
}

bool HeldRing::BatchSafe(uint32_t max_id) {
  absl::MutexLock lock(&mu_);
  if (untracked_ > 0) return false;
  return head_ == tail_ || After(ring_[head_ & mask_].id, max_id);
}

size_t HeldRing::size() {
  absl::MutexLock lock(&mu_);
  return tail_ - head_ + untracked_;
}

}  // namespace nfr
