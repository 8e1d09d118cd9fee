// A partition of an integer key space (ports, IPv4, IPv6 as host-order
// integers) into intervals, each with a class id; point lookup by binary search
// narrowed by a radix table so a million intervals cost a few cache misses.
// Class 0 is special (RuleIndex: no candidates): a bitmap of up to 2^20 buckets
// (~8 per interval) marks those lying wholly in class-0 intervals, so a key
// there (most keys: few rules name its range) is answered from at most 128 KiB
// that stays cached, without reading the radix or the entries.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "agent/policy/index_arena.h"

namespace nfr {

template <typename K>
class IntervalMap {
 public:
  // starts[0] must be 0 and strictly increasing; classes[i] covers [starts[i], starts[i+1]).
  void Assign(std::vector<K> starts, std::vector<uint32_t> classes) {
    entries_.clear();
    entries_.reserve(starts.size());
    for (size_t i = 0; i < starts.size(); ++i) entries_.push_back(Entry::Of(starts[i], classes[i]));
    std::vector<K>().swap(starts);
    std::vector<uint32_t>().swap(classes);
    BuildRadix();
  }

  // Starts loading the memory Find(key) reads first, so lookups in several maps overlap.
  void Prefetch(K key) const {
    if (radix_.empty() || key < base_ || key >= entries_.back().start()) return;
    if (InZeroBucket(key)) return;
    __builtin_prefetch(&radix_[static_cast<size_t>((key - base_) >> shift_)]);
  }

  uint32_t Find(K key) const {
    if (entries_.empty()) return 0;
    size_t lo = 0, n = entries_.size();
    if (!radix_.empty()) {
      if (key < base_) return entries_[0].cls;
      if (key >= entries_.back().start()) return entries_.back().cls;
      if (InZeroBucket(key)) return 0;
      const size_t b = static_cast<size_t>((key - base_) >> shift_);
      lo = radix_[b];
      n = radix_[b + 1] - lo;
    }
    // The last entry in [lo, lo + n) starting at or before `key` (branchless halving).
    const Entry* base = entries_.data() + lo;
    if (n == 0) return base[-1].cls;
    // A bucket's entries usually span one or two cache lines: load both at once
    // rather than one after the other as the halving reaches them.
    __builtin_prefetch(base);
    __builtin_prefetch(base + n - 1);
    while (n > 1) {
      const size_t half = n / 2;
      base = base[half].start() <= key ? base + half : base;
      n -= half;
    }
    return base->start() <= key ? base->cls : base[-1].cls;
  }

  size_t size() const { return entries_.size(); }
  size_t ArenaSize() const { return ArenaBytes(entries_) + ArenaBytes(radix_) + ArenaBytes(zero_); }
  void MoveInto(IndexArena* arena) {
    MoveIntoArena(zero_, arena);
    MoveIntoArena(entries_, arena);
    MoveIntoArena(radix_, arena);
  }
  size_t MemoryBytes() const {
    return entries_.capacity() * sizeof(Entry) + radix_.capacity() * 4 + zero_.capacity() * 8;
  }

 private:
  static constexpr int kRadixBits = 16;
  static constexpr int kZeroBits = 20;

  // Only for base_ <= key < entries_.back().start().
  bool InZeroBucket(K key) const {
    const size_t z = static_cast<size_t>((key - base_) >> zero_shift_);
    return (zero_[z / 64] >> (z % 64)) & 1;
  }
  // The class beside its start (one cache miss fewer per lookup), 4-byte
  // aligned so an IPv6 entry takes 20 bytes, not 32.
  struct Entry {
    uint32_t key[sizeof(K) / 4];
    uint32_t cls;
    static Entry Of(K start, uint32_t cls) {
      Entry e;
      std::memcpy(e.key, &start, sizeof(K));
      e.cls = cls;
      return e;
    }
    K start() const {
      K k;
      std::memcpy(&k, key, sizeof(K));
      return k;
    }
  };

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
    zero_.clear();
    if (entries_.size() < 64) return;
    base_ = entries_[1].start();
    const K span = entries_.back().start() - base_;
    shift_ = std::max(0, BitWidth(span) - kRadixBits);
    const size_t buckets = static_cast<size_t>(span >> shift_) + 1;
    radix_.resize(buckets + 1);
    size_t i = 0;
    for (size_t b = 0; b < buckets; ++b) {
      const K edge = base_ + (static_cast<K>(b) << shift_);
      while (i < entries_.size() && entries_[i].start() < edge) ++i;
      radix_[b] = static_cast<uint32_t>(i);
    }
    radix_[buckets] = static_cast<uint32_t>(entries_.size());
    radix_.shrink_to_fit();
    BuildZero(span);
  }

  // Bucket z covers [base_ + (z << zero_shift_), + 2^zero_shift_); it is set when no
  // entry of another class overlaps it. Entries from 1 to size-2 lie in [base_, back).
  void BuildZero(K span) {
    // About 8 buckets per entry (most then empty when entries are spread), at most 2^20.
    const int bits = std::min(kZeroBits, BitWidth(static_cast<K>(entries_.size())) + 3);
    zero_shift_ = std::max(0, BitWidth(span) - bits);
    const size_t buckets = static_cast<size_t>(span >> zero_shift_) + 1;
    zero_.assign((buckets + 63) / 64, ~uint64_t{0});
    for (size_t i = 1; i + 1 < entries_.size(); ++i) {
      if (entries_[i].cls == 0) continue;
      const size_t first = static_cast<size_t>((entries_[i].start() - base_) >> zero_shift_);
      const size_t last = static_cast<size_t>((entries_[i + 1].start() - 1 - base_) >> zero_shift_);
      for (size_t z = first; z <= last; ++z) zero_[z / 64] &= ~(uint64_t{1} << (z % 64));
    }
  }

  IndexVector<Entry> entries_;
  K base_ = 0;
  int shift_ = 0;
  IndexVector<uint32_t>
      radix_;  // radix_[b]: first i with entries_[i].start >= base_ + (b << shift_)
  int zero_shift_ = 0;
  IndexVector<uint64_t> zero_;  // bit z: bucket z lies wholly in class-0 intervals
};

}  // namespace nfr
