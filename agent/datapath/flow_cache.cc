#include "agent/datapath/flow_cache.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "agent/util/log.h"

namespace nfr::datapath {
namespace {

constexpr int kEnotsupp = 524;  // kernel-internal ENOTSUPP, as the bpf syscall reports it

bool BatchUnsupported(int err) { return err == -EINVAL || err == -EOPNOTSUPP || err == -kEnotsupp; }

bool Live(const nfr_flow_value& v, uint64_t now) { return v.expires_ns == 0 || v.expires_ns > now; }

absl::Status MapError(const char* what, int err) {
  return absl::InternalError(absl::StrCat(what, " on BPF map nfr_flows failed: ", strerror(-err)));
}

}  // namespace

nfr_flow_key CanonicalFlowKey(const nfr_flow_key& key) {
  nfr_flow_key k = key;
  k.pad = 0;
  if (k.family == 2) {
    k.saddr[1] = k.saddr[2] = k.saddr[3] = 0;
    k.daddr[1] = k.daddr[2] = k.daddr[3] = 0;
  }
  return k;
}

uint64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t ExpiryFromTtl(absl::Duration ttl) {
  if (ttl == absl::InfiniteDuration()) return 0;
  uint64_t e = MonotonicNowNs() + std::max<int64_t>(0, absl::ToInt64Nanoseconds(ttl));
  return e == 0 ? 1 : e;
}

absl::Status FlowCache::Set(const nfr_flow_key& key, nfr_verdict verdict,
                            absl::Duration ttl) const {
  nfr_flow_value v = {};
  v.verdict = verdict;
  v.expires_ns = ExpiryFromTtl(ttl);
  return SetValue(key, v);
}

absl::Status FlowCache::SetFlow(const nfr_flow_key& key, const nfr_flow_value& value,
                                absl::Duration ttl) {
  nfr_flow_value v = value;
  v.expires_ns = ExpiryFromTtl(ttl);
  return SetValue(key, v);
}

absl::Status FlowCache::SetFlows(absl::Span<const nfr_flow_key> keys,
                                 absl::Span<const nfr_flow_value> values,
                                 absl::Span<const absl::Duration> ttls) {
  if (keys.size() != values.size() || keys.size() != ttls.size()) {
    return absl::InvalidArgumentError(absl::StrCat("SetFlows: ", keys.size(), " keys, ",
                                                   values.size(), " values, ", ttls.size(), " ttls"));
  }
  constexpr size_t kChunk = NFR_FLOW_WRITE_MAX;  // on the stack: called from every queue thread
  if (writer_ != nullptr && writer_works_.load(std::memory_order_relaxed)) {
    size_t off = 0;
    for (; off < keys.size(); off += kChunk) {
      const size_t n = std::min(kChunk, keys.size() - off);
      if (!WriteThroughWriter(keys.subspan(off, n), values.subspan(off, n), ttls.subspan(off, n))) {
        break;
      }
    }
    if (off >= keys.size()) return absl::OkStatus();
    keys.remove_prefix(off);
    values.remove_prefix(off);
    ttls.remove_prefix(off);
  }
  nfr_flow_key k[kChunk];
  nfr_flow_value v[kChunk];
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  for (size_t off = 0; off < keys.size(); off += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - off);
    for (size_t i = 0; i < n; ++i) {
      k[i] = CanonicalFlowKey(keys[off + i]);
      v[i] = values[off + i];
      v[i].expires_ns = ExpiryFromTtl(ttls[off + i]);
    }
    size_t done = 0;
    if (update_batch_works_.load(std::memory_order_relaxed)) {
      uint32_t count = static_cast<uint32_t>(n);
      int err = bpf_map_update_batch(fd_, k, v, &count, &opts);
      if (err && BatchUnsupported(err) && count == 0) {
        update_batch_works_.store(false, std::memory_order_relaxed);
      } else if (err) {
        return MapError("batch update", err);
      } else {
        done = n;
      }
    }
    for (size_t i = done; i < n; ++i) {
      if (int err = bpf_map_update_elem(fd_, &k[i], &v[i], BPF_ANY)) return MapError("update", err);
    }
  }
  return absl::OkStatus();
}

bool FlowCache::WriteThroughWriter(absl::Span<const nfr_flow_key> keys,
                                   absl::Span<const nfr_flow_value> values,
                                   absl::Span<const absl::Duration> ttls) {
  nfr_flow_write w[NFR_FLOW_WRITE_MAX];
  for (size_t i = 0; i < keys.size(); ++i) {
    w[i].key = CanonicalFlowKey(keys[i]);
    w[i].value = values[i];
    w[i].value.expires_ns = ExpiryFromTtl(ttls[i]);
  }
  absl::StatusOr<uint32_t> in_place = writer_->Write(absl::MakeConstSpan(w, keys.size()));
  if (!in_place.ok()) {
    // A partly written chunk is written again below: the same values, so no harm.
    if (writer_works_.exchange(false, std::memory_order_relaxed)) {
      LogLine(absl::StrCat("nfr-agent: ", in_place.status().message(),
                           "; flow-cache writes use BPF_MAP_UPDATE_BATCH from now on"));
    }
    writer_fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  in_place_.fetch_add(*in_place, std::memory_order_relaxed);
  return true;
}

absl::Status FlowCache::SetValue(const nfr_flow_key& key, const nfr_flow_value& value) const {
  nfr_flow_key k = CanonicalFlowKey(key);
  nfr_flow_value v = value;
  int err = bpf_map_update_elem(fd_, &k, &v, BPF_ANY);
  if (err) {
    return absl::InternalError(absl::StrCat("writing flow cache entry failed: ", strerror(-err)));
  }
  return absl::OkStatus();
}

absl::Status FlowCache::Delete(const nfr_flow_key& key) const {
  nfr_flow_key k = CanonicalFlowKey(key);
  int err = bpf_map_delete_elem(fd_, &k);
  if (err && err != -ENOENT) {
    return absl::InternalError(absl::StrCat("deleting flow cache entry failed: ", strerror(-err)));
  }
  return absl::OkStatus();
}

std::optional<nfr_flow_value> FlowCache::Lookup(const nfr_flow_key& key) const {
  nfr_flow_key k = CanonicalFlowKey(key);
  nfr_flow_value v;
  if (bpf_map_lookup_elem(fd_, &k, &v) != 0) return std::nullopt;
  if (!Live(v, MonotonicNowNs())) return std::nullopt;
  return v;
}

absl::Status FlowCache::Dump(ChunkFn fn, size_t chunk) const {
  if (chunk == 0) chunk = kDefaultChunk;
  const uint64_t now = MonotonicNowNs();
  std::vector<nfr_flow_key> keys(chunk);
  std::vector<nfr_flow_value> values(chunk);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t in_batch = 0, out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = static_cast<uint32_t>(keys.size());
    int err = bpf_map_lookup_batch(fd_, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, &opts);
    if (err == -ENOSPC && count == 0) {  // one hash bucket holds more than the buffer
      keys.resize(keys.size() * 2);
      values.resize(values.size() * 2);
      continue;
    }
    if (err && first && BatchUnsupported(err)) return DumpOneByOne(fn, chunk, now);
    if (err && err != -ENOENT) return MapError("batch lookup", err);
    // Compact the live entries in place, then hand them over.
    size_t live = 0;
    for (uint32_t i = 0; i < count; ++i) {
      if (!Live(values[i], now)) continue;
      keys[live] = keys[i];
      values[live] = values[i];
      ++live;
    }
    if (live) fn(absl::MakeConstSpan(keys.data(), live), absl::MakeConstSpan(values.data(), live));
    if (err == -ENOENT) return absl::OkStatus();
    in_batch = out_batch;
    first = false;
  }
}

absl::Status FlowCache::DumpOneByOne(ChunkFn fn, size_t chunk, uint64_t now) const {
  std::vector<nfr_flow_key> keys;
  std::vector<nfr_flow_value> values;
  keys.reserve(chunk);
  values.reserve(chunk);
  nfr_flow_key cur, next;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
    cur = next;
    prev = &cur;
    nfr_flow_value v;
    if (bpf_map_lookup_elem(fd_, &cur, &v) != 0 || !Live(v, now)) continue;
    keys.push_back(cur);
    values.push_back(v);
    if (keys.size() == chunk) {
      fn(keys, values);
      keys.clear();
      values.clear();
    }
  }
  if (!keys.empty()) fn(keys, values);
  return absl::OkStatus();
}

absl::Status FlowCache::UpdateMany(absl::Span<const nfr_flow_key> keys,
                                   absl::Span<const nfr_flow_value> values) const {
  if (keys.size() != values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("UpdateMany: ", keys.size(), " keys but ", values.size(), " values"));
  }
  const size_t chunk = std::min(keys.size(), kDefaultChunk);
  std::vector<nfr_flow_key> k(chunk);
  std::vector<nfr_flow_value> v(chunk);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  bool batch = true;
  for (size_t off = 0; off < keys.size(); off += chunk) {
    const size_t n = std::min(chunk, keys.size() - off);
    for (size_t i = 0; i < n; ++i) {
      k[i] = CanonicalFlowKey(keys[off + i]);
      v[i] = values[off + i];
    }
    size_t done = 0;
    if (batch) {
      uint32_t count = static_cast<uint32_t>(n);
      int err = bpf_map_update_batch(fd_, k.data(), v.data(), &count, &opts);
      if (err && BatchUnsupported(err) && off == 0) {
        batch = false;
      } else if (err) {
        return MapError("batch update", err);
      } else {
        done = n;
      }
    }
    for (size_t i = done; i < n; ++i) {
      if (int err = bpf_map_update_elem(fd_, &k[i], &v[i], BPF_ANY)) return MapError("update", err);
    }
  }
  return absl::OkStatus();
}

absl::Status FlowCache::DeleteMany(absl::Span<const nfr_flow_key> keys) const {
  const size_t chunk = std::min(keys.size(), kDefaultChunk);
  std::vector<nfr_flow_key> k(chunk);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  bool batch = true;
  for (size_t off = 0; off < keys.size(); off += chunk) {
    const size_t n = std::min(chunk, keys.size() - off);
    for (size_t i = 0; i < n; ++i) k[i] = CanonicalFlowKey(keys[off + i]);
    size_t pos = 0;
    // The kernel stops at the first absent key and reports how many it deleted before it.
    while (batch && pos < n) {
      uint32_t count = static_cast<uint32_t>(n - pos);
      int err = bpf_map_delete_batch(fd_, k.data() + pos, &count, &opts);
      if (!err) {
        pos = n;
      } else if (err == -ENOENT) {
        pos += count + 1;
      } else if (BatchUnsupported(err) && off == 0 && pos == 0) {
        batch = false;
      } else {
        return MapError("batch delete", err);
      }
    }
    for (; pos < n; ++pos) {
      int err = bpf_map_delete_elem(fd_, &k[pos]);
      if (err && err != -ENOENT) return MapError("delete", err);
    }
  }
  return absl::OkStatus();
}

size_t FlowCache::Count() const {
  nfr_flow_key cur, next;
  const void* prev = nullptr;
  size_t n = 0;
  while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
    ++n;
    cur = next;
    prev = &cur;
  }
  return n;
}

std::vector<uint64_t> ReadStats(int stats_fd) {
  std::vector<uint64_t> sums(NFR_STAT_MAX, 0);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sums;
  std::vector<uint64_t> per_cpu(ncpu);
  for (uint32_t i = 0; i < NFR_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(stats_fd, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) sums[i] += v;
  }
  return sums;
}

}  // namespace nfr::datapath
