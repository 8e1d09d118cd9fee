// FlowService cost on the real BPF flow cache: fills nfr_flows with N policy entries and times
// what one ListFlows page costs (every page walks the whole cache through the engine, keeping
// the page's smallest keys) and one DenyFlows call at its limit (10000 entries). Needs root.
// Prints numbers, never fails on them. Usage: flows_list_bench [N...] (default 100000 1000000)
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/core/flow_table.h"
#include "agent/datapath/bpf_program.h"
#include "agent/datapath/flow_cache.h"
#include "agent/runtime/verdict_engine.h"

namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
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
    values[i].rule = 1;
    values[i].origin_id = 1;
    values[i].ifindex = 1;
  }
  if (auto st = cache.UpdateMany(keys, values); !st.ok()) {
    fprintf(stderr, "fill: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  nfr::v1::Policy policy;
  policy.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
  nfr::VerdictEngine engine(*nfr::CompiledPolicy::Compile(policy), {}, nullptr);
  engine.SetCache(&cache);

  // One page of 1000 over everything, as FlowTable::List walks it.
  auto t = std::chrono::steady_clock::now();
  std::map<std::string, nfr::CachedFlow> page;
  size_t seen = 0;
  auto want = [&](const nfr_flow_key& key, const nfr_flow_value&) {
    ++seen;
    std::string k(reinterpret_cast<const char*>(&key), sizeof(key));
    return page.size() <= 1000 || k < page.rbegin()->first;
  };
  (void)engine.ForEachFlow(want, [&](const nfr::CachedFlow& c) {
    page.emplace(std::string(reinterpret_cast<const char*>(&c.key), sizeof(c.key)), c);
    if (page.size() > 1001) page.erase(std::prev(page.end()));
  });
  const double list_ms = MsSince(t);

  // One DenyFlows at its limit.
  std::vector<nfr::CachedFlow> chosen;
  std::vector<uint64_t> ids;
  t = std::chrono::steady_clock::now();
  auto wanted = [&](const nfr_flow_key&, const nfr_flow_value&) {
    return chosen.size() < nfr::kMaxFlowChanges;
  };
  (void)engine.ForEachFlow(wanted, [&](const nfr::CachedFlow& c) {
    chosen.push_back(c);
    ids.push_back(chosen.size());
  });
  auto denied = engine.DenyFlows(chosen, ids);
  const double deny_ms = MsSince(t);
  engine.SetCache(nullptr);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  printf(
      "%u entries: one ListFlows page (walks %zu) %.0f ms; DenyFlows of %zu entries %.0f ms%s"
      " (load %.1f)\n",
      n, seen, list_ms, chosen.size(), deny_ms, denied.ok() ? "" : " FAILED", load[0]);
  return denied.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    fprintf(stderr, "flows_list_bench loads BPF maps: run it as root\n");
    return 1;
  }
  std::vector<uint32_t> runs;
  for (int i = 1; i < argc; ++i)
    runs.push_back(static_cast<uint32_t>(strtoul(argv[i], nullptr, 10)));
  if (runs.empty()) runs = {100000, 1000000};
  int rc = 0;
  for (uint32_t n : runs) rc |= Run(n);
  return rc;
}
