// Flow-cache re-evaluation cost: fills nfr_flows (sized to the count) with N policy entries, then
// times what a policy change does — a full chunked dump plus a batch rewrite of every entry —
// and a batch delete. Loads the real program's maps; needs root. Prints numbers, never fails on
// them. Usage: flow_cache_bench [N[:CAPACITY]...]   (default: 100000 1000000; capacity = N)
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/time/time.h"
#include "agent/datapath/bpf_program.h"
#include "agent/datapath/flow_cache.h"

namespace {

// Wall and CPU (user + system) time of one phase; CPU time is what the phase costs on a quiet
// machine, wall time what it took on this one.
struct Phase {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = CpuMs();
  static double CpuMs() {
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  }
  double WallMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall)
        .count();
  }
  double CpuSpentMs() const { return CpuMs() - cpu; }
};

int Run(uint32_t n, uint32_t capacity) {
  auto prog = nfr::datapath::BpfProgram::Load({.flows_max_entries = capacity});
  if (!prog.ok()) {
    fprintf(stderr, "%s\n", std::string(prog.status().message()).c_str());
    return 1;
  }
  nfr::datapath::FlowCache cache((*prog)->flows_fd());
  std::vector<nfr_flow_key> keys(n);
  std::vector<nfr_flow_value> values(n);
  const uint64_t expires = nfr::datapath::ExpiryFromTtl(absl::Minutes(5));
  for (uint32_t i = 0; i < n; ++i) {
    nfr_flow_key& k = keys[i];
    k = {};
    k.family = AF_INET;
    k.proto = IPPROTO_TCP;
    k.saddr[0] = htonl(0x0a000000u | (i >> 8));
    k.daddr[0] = htonl(0xc0000200u | (i & 0xff));
    k.sport = htons(static_cast<uint16_t>(1024 + (i % 60000)));
    k.dport = htons(443);
    values[i] = {};
    values[i].expires_ns = expires;
    values[i].verdict = NFR_VERDICT_ALLOW;
    values[i].origin = NFR_ORIGIN_POLICY;
    values[i].rule = i % 16 + 1;
    values[i].origin_id = 1;
  }
  Phase fill;
  if (auto st = cache.UpdateMany(keys, values); !st.ok()) {
    fprintf(stderr, "fill: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double fill_ms = fill.CpuSpentMs();
  const size_t present = cache.Count();

  // Re-evaluation: dump everything, decide (rule 1 now drops), write back what changed, then
  // (worst case: every entry changed, e.g. a new version stamped on all) everything.
  std::vector<nfr_flow_key> all_keys, changed_keys;
  std::vector<nfr_flow_value> all_values, changed_values;
  all_keys.reserve(n);
  all_values.reserve(n);
  Phase dump;
  auto st = cache.Dump([&](absl::Span<const nfr_flow_key> ks, absl::Span<const nfr_flow_value> vs) {
    for (size_t i = 0; i < ks.size(); ++i) {
      nfr_flow_value v = vs[i];
      if (v.origin == NFR_ORIGIN_POLICY && v.rule == 1) {
        v.verdict = NFR_VERDICT_DENY;
        changed_keys.push_back(ks[i]);
        changed_values.push_back(v);
      }
      v.origin_id = 2;
      all_keys.push_back(ks[i]);
      all_values.push_back(v);
    }
  });
  const double dump_wall = dump.WallMs(), dump_cpu = dump.CpuSpentMs();
  if (!st.ok()) {
    fprintf(stderr, "dump: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  Phase changed;
  st = cache.UpdateMany(changed_keys, changed_values);
  const double changed_wall = changed.WallMs(), changed_cpu = changed.CpuSpentMs();
  Phase rewrite;
  if (st.ok()) st = cache.UpdateMany(all_keys, all_values);
  const double rewrite_wall = rewrite.WallMs(), rewrite_cpu = rewrite.CpuSpentMs();
  if (!st.ok()) {
    fprintf(stderr, "rewrite: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const size_t after = cache.Count();
  Phase del;
  st = cache.DeleteMany(all_keys);
  const double delete_cpu = del.CpuSpentMs();
  printf(
      "%u entries in a %u-entry map (%zu present after fill, %zu after rewrite); fill %.0f ms"
      " cpu\n",
      n, capacity, present, after, fill_ms);
  printf(
      "  re-evaluation: dump %.0f ms (%.0f cpu) + write %zu changed %.0f ms (%.0f cpu) = %.0f ms"
      " (target <= 1000 ms at 1M)\n",
      dump_wall, dump_cpu, changed_keys.size(), changed_wall, changed_cpu,
      dump_wall + changed_wall);
  printf(
      "  worst case, rewrite all: %.0f ms (%.0f cpu); dump + rewrite all = %.0f ms (%.0f cpu);"
      " batch delete all %.0f ms cpu\n",
      rewrite_wall, rewrite_cpu, dump_wall + rewrite_wall, dump_cpu + rewrite_cpu, delete_cpu);
  return st.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "flow_cache_bench loads BPF maps: run it as root\n");
    return 1;
  }
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    uint32_t n = static_cast<uint32_t>(strtoul(argv[i], &end, 10));
    uint32_t cap = *end == ':' ? static_cast<uint32_t>(strtoul(end + 1, nullptr, 10)) : n;
    runs.push_back({n, cap});
  }
  if (runs.empty()) runs = {{100000, 100000}, {1000000, 1000000}};
  int rc = 0;
  for (auto [n, cap] : runs) rc |= Run(n, cap);
  return rc;
}
