// One mapping for a built index's arrays, which the kernel may back with 2 MiB
// pages (MADV_HUGEPAGE): a lookup's few random reads then miss the TLB far less
// than over megabytes of 4 KiB pages. Arrays are built with malloc and copied in
// once (Freeze); an IndexVector with no arena is a plain vector.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace nfr {

class IndexArena {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  // nullptr when the mapping fails (the arrays then stay where they are).
  static std::unique_ptr<IndexArena> Create(size_t bytes) {
    const size_t len = (bytes + 4095) & ~size_t{4095};
    void* raw =
        mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    // Keep the 2 MiB-aligned part only, so whole huge pages fit in it.
    const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t end = start + len + kHugePage;
    if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
    madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
    return std::unique_ptr<IndexArena>(new IndexArena(reinterpret_cast<char*>(aligned), len));
  }
  ~IndexArena() { munmap(base_, size_); }
  IndexArena(const IndexArena&) = delete;
  IndexArena& operator=(const IndexArena&) = delete;

  // nullptr when full.
  void* Take(size_t bytes, size_t align) {
    const size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + bytes > size_) return nullptr;
    used_ = at + bytes;
    return base_ + at;
  }
  const char* lo() const { return base_; }
  const char* hi() const { return base_ + size_; }

 private:
  IndexArena(char* base, size_t size) : base_(base), size_(size) {}
  char* base_;
  size_t size_;
  size_t used_ = 0;
};

// Allocates from an arena when it has one (and room), else with operator new;
// frees only what it did not take from the arena.
template <typename T>
struct ArenaAllocator {
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::false_type;

  ArenaAllocator() = default;
  explicit ArenaAllocator(IndexArena* a) : arena(a), lo(a->lo()), hi(a->hi()) {}
  template <typename U>
  ArenaAllocator(const ArenaAllocator<U>& o) : arena(o.arena), lo(o.lo), hi(o.hi) {}  // NOLINT

  T* allocate(size_t n) {
    if (arena != nullptr) {
      if (void* p = arena->Take(n * sizeof(T), alignof(T))) return static_cast<T*>(p);
    }
    return std::allocator<T>().allocate(n);
  }
  // By address range, not through `arena`: an index may be assigned over after its
  // arena is gone.
  void deallocate(T* p, size_t n) {
    const char* c = reinterpret_cast<const char*>(p);
    if (c < lo || c >= hi) std::allocator<T>().deallocate(p, n);
  }
  // A copy of an index lives on the heap, not in the original's arena.
  ArenaAllocator select_on_container_copy_construction() const { return ArenaAllocator(); }
  template <typename U>
  bool operator==(const ArenaAllocator<U>& o) const {
    return arena == o.arena;
  }

  IndexArena* arena = nullptr;  // used while freezing only
  const char* lo = nullptr;
  const char* hi = nullptr;
};

template <typename T>
using IndexVector = std::vector<T, ArenaAllocator<T>>;

// Moves `v`'s elements into `arena` (exactly v.size() of them) and frees its heap copy.
template <typename T>
void MoveIntoArena(IndexVector<T>& v, IndexArena* arena) {
  if (v.empty()) return;
  IndexVector<T> copy{ArenaAllocator<T>(arena)};
  copy.reserve(v.size());
  copy.insert(copy.end(), v.begin(), v.end());
  v = std::move(copy);
}

template <typename T>
size_t ArenaBytes(const IndexVector<T>& v) {
  return v.size() * sizeof(T) + alignof(T);
}

}  // namespace nfr
