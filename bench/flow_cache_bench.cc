// Flow-cache re-evaluation cost: fills nfr_flows (sized to the count) with N policy entries, then
// times what a policy change does — a full chunked dump plus a batch rewrite of every entry —
// and a batch delete. Loads the real program's maps; needs root. Prints numbers, never fails on
// them. Usage: flow_cache_bench [N...]   (default: 100000 1000000)
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/time/time.h"
#include "agent/datapath/bpf_program.h"
#include "agent/datapath/flow_cache.h"

namespace {

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int Run(uint32_t n) {
  auto prog = nfr::datapath::BpfProgram::Load({.flows_max_entries = n});
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
  auto t = std::chrono::steady_clock::now();
  if (auto st = cache.UpdateMany(keys, values); !st.ok()) {
    fprintf(stderr, "fill: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double fill_ms = Ms(t);
  const size_t present = cache.Count();

  // Re-evaluation: dump everything, decide (rule 1 now drops, others move to version 2), write
  // back every entry in one batch call per chunk.
  std::vector<nfr_flow_key> out_keys;
  std::vector<nfr_flow_value> out_values;
  out_keys.reserve(n);
  out_values.reserve(n);
  t = std::chrono::steady_clock::now();
  auto st = cache.Dump([&](absl::Span<const nfr_flow_key> ks, absl::Span<const nfr_flow_value> vs) {
    for (size_t i = 0; i < ks.size(); ++i) {
      nfr_flow_value v = vs[i];
      if (v.origin == NFR_ORIGIN_POLICY) {
        if (v.rule == 1) v.verdict = NFR_VERDICT_DENY;
        v.origin_id = 2;
      }
      out_keys.push_back(ks[i]);
      out_values.push_back(v);
    }
  });
  const double dump_ms = Ms(t);
  if (!st.ok()) {
    fprintf(stderr, "dump: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  t = std::chrono::steady_clock::now();
  st = cache.UpdateMany(out_keys, out_values);
  const double rewrite_ms = Ms(t);
  if (!st.ok()) {
    fprintf(stderr, "rewrite: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  t = std::chrono::steady_clock::now();
  st = cache.DeleteMany(out_keys);
  const double delete_ms = Ms(t);
  printf("%8u entries (%zu present after fill): fill %7.1f ms | re-evaluation: dump %7.1f ms +"
         " batch rewrite %7.1f ms = %7.1f ms (target <= 1000 ms at 1M) | batch delete %7.1f ms\n",
         n, present, fill_ms, dump_ms, rewrite_ms, dump_ms + rewrite_ms, delete_ms);
  return st.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "flow_cache_bench loads BPF maps: run it as root\n");
    return 1;
  }
  std::vector<uint32_t> counts;
  for (int i = 1; i < argc; ++i) counts.push_back(static_cast<uint32_t>(strtoul(argv[i], 0, 10)));
  if (counts.empty()) counts = {100000, 1000000};
  int rc = 0;
  for (uint32_t n : counts) rc |= Run(n);
  return rc;
}
