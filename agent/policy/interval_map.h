// A partition of an integer key space (ports, IPv4, IPv6 as host-order
// integers) into intervals, each with a class id; point lookup by binary search
// narrowed by a radix table so a million intervals cost a few cache misses.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace nfr {

template <typename K>
class IntervalMap {
 public:
  // starts[0] must be 0 and strictly increasing; classes[i] covers [starts[i], starts[i+1]).
  void Assign(std::vector<K> starts, std::vector<uint32_t> classes) {
    starts_ = std::move(starts);
    classes_ = std::move(classes);
    starts_.shrink_to_fit();
    classes_.shrink_to_fit();
    BuildRadix();
  }

  uint32_t Find(K key) const {
    if (starts_.empty()) return 0;
    size_t lo = 0, hi = starts_.size();
    if (!radix_.empty()) {
      if (key < base_) return classes_[0];
      if (key >= starts_.back()) return classes_.back();
      const size_t b = static_cast<size_t>((key - base_) >> shift_);
      lo = radix_[b];
      hi = radix_[b + 1];
    }
    const auto it = std::upper_bound(starts_.begin() + lo, starts_.begin() + hi, key);
    return classes_[(it - starts_.begin()) - 1];
  }

  size_t size() const { return starts_.size(); }
  size_t MemoryBytes() const {
    return starts_.capacity() * sizeof(K) + classes_.capacity() * 4 + radix_.capacity() * 4;
  }

 private:
  static constexpr int kRadixBits = 16;

  static int BitWidth(K v) {
    int n = 0;
    while (v != 0) {
      v >>= 1;
      ++n;
    }
    return n;
  }

  void BuildRadix() {
    radix_.clear();
    if (starts_.size() < 64) return;
    base_ = starts_[1];
    const K span = starts_.back() - base_;
    shift_ = std::max(0, BitWidth(span) - kRadixBits);
    const size_t buckets = static_cast<size_t>(span >> shift_) + 1;
    radix_.resize(buckets + 1);
    size_t i = 0;
    for (size_t b = 0; b < buckets; ++b) {
      const K edge = base_ + (static_cast<K>(b) << shift_);
      while (i < starts_.size() && starts_[i] < edge) ++i;
      radix_[b] = static_cast<uint32_t>(i);
    }
    radix_[buckets] = static_cast<uint32_t>(starts_.size());
    radix_.shrink_to_fit();
  }

  std::vector<K> starts_;
  std::vector<uint32_t> classes_;
  K base_ = 0;
  int shift_ = 0;
  std::vector<uint32_t> radix_;  // radix_[b]: first i with starts_[i] >= base_ + (b << shift_)
};

}  // namespace nfr
