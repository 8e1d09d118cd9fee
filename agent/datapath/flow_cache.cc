#include "agent/datapath/flow_cache.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace nfr::datapath {
namespace {

// Keys are hashed bytewise: padding must be zero.
nfr_flow_key Canonical(const nfr_flow_key& key) {
  nfr_flow_key k = key;
  k.pad = 0;
  if (k.family == 2) {
    k.saddr[1] = k.saddr[2] = k.saddr[3] = 0;
    k.daddr[1] = k.daddr[2] = k.daddr[3] = 0;
  }
  return k;
}

}  // namespace

uint64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

absl::Status FlowCache::Set(const nfr_flow_key& key, nfr_verdict verdict,
                            absl::Duration ttl) const {
  nfr_flow_key k = Canonical(key);
  nfr_flow_value v = {};
  v.verdict = verdict;
  if (ttl != absl::InfiniteDuration()) {
    v.expires_ns = MonotonicNowNs() + std::max<int64_t>(0, absl::ToInt64Nanoseconds(ttl));
    if (v.expires_ns == 0) v.expires_ns = 1;
  }
  int err = bpf_map_update_elem(fd_, &k, &v, BPF_ANY);
  if (err) {
    return absl::InternalError(absl::StrCat("writing flow cache entry failed: ", strerror(-err)));
  }
  return absl::OkStatus();
}

absl::Status FlowCache::Delete(const nfr_flow_key& key) const {
  nfr_flow_key k = Canonical(key);
  int err = bpf_map_delete_elem(fd_, &k);
  if (err && err != -ENOENT) {
    return absl::InternalError(absl::StrCat("deleting flow cache entry failed: ", strerror(-err)));
  }
  return absl::OkStatus();
}

std::optional<nfr_flow_value> FlowCache::Lookup(const nfr_flow_key& key) const {
  nfr_flow_key k = Canonical(key);
  nfr_flow_value v;
  if (bpf_map_lookup_elem(fd_, &k, &v) != 0) return std::nullopt;
  if (v.expires_ns != 0 && v.expires_ns <= MonotonicNowNs()) return std::nullopt;
  return v;
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
