// Microbenchmark of new-flow classification (CompiledPolicy::Match) at 10, 1k
// and 100k rules and with a 1M-prefix set: p50/p99 per packet, compared side by
// side with a plain linear first-match scan (the pre-index matcher); compile
// time; RSS growth. Each case runs in a forked child so RSS figures start clean.
// Usage: see kUsage below.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/policy/compiled_policy.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/prefix.h"

namespace nfr {
namespace {

using Clock = std::chrono::steady_clock;

double RssMiB() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  uint32_t U32() { return static_cast<uint32_t>(rng_()); }
  int Int(int lo, int hi) { return lo + static_cast<int>(rng_() % (hi - lo + 1)); }
  bool Chance(int pct) { return Int(1, 100) <= pct; }

  Prefix V4(int len) {
    Prefix p;
    p.family = 4;
    const uint32_t a = U32();
    for (int i = 0; i < 4; ++i) p.addr[i] = static_cast<uint8_t>(a >> (24 - 8 * i));
    p.len = static_cast<uint8_t>(len);
    return *ParsePrefix(p.ToString(), HostBits::kClear);
  }
  Prefix V6(int len) {
    Prefix p;
    p.family = 6;
    for (auto& b : p.addr) b = static_cast<uint8_t>(rng_());
    p.addr[0] = 0x20 | (p.addr[0] & 0x1f);  // 2000::/3
    p.len = static_cast<uint8_t>(len);
    return *ParsePrefix(p.ToString(), HostBits::kClear);
  }
  Prefix Any(bool v4, bool host) {
    static constexpr int k4[] = {16, 20, 24, 24, 24, 28, 32, 32};
    static constexpr int k6[] = {32, 48, 48, 56, 64, 64, 128, 128};
    if (v4) return V4(host ? 32 : k4[Int(0, 7)]);
    return V6(host ? 128 : k6[Int(0, 7)]);
  }
  uint16_t Port() {
    static constexpr uint16_t kPopular[] = {22, 25, 53, 80, 123, 443, 853, 993, 3306, 5432, 8080};
    return Chance(50) ? kPopular[Int(0, 10)] : static_cast<uint16_t>(Int(1, 65535));
  }

 private:
  std::mt19937_64 rng_;
};

const char* kIfaces[] = {"br-lan", "wan", "wg0", "eth1", "eth2", "vlan10", "vlan20", "guest"};

// A realistic mix: mostly destination host/subnet rules with protocol and ports,
// some with sources, interfaces, directions; actions mixed.
int range_pct = 10;  // --port-ranges: share of port specs that are ranges (else one port)

nfr::v1::Policy MakeRules(Gen& g, int n) {
  nfr::v1::Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_DROP);
  for (int i = 0; i < n; ++i) {
    auto* r = p.add_rules();
    r->set_id(absl::StrCat("r", i));
    const int proto = g.Int(1, 100);
    r->set_protocol(proto <= 45   ? nfr::v1::PROTOCOL_TCP
                    : proto <= 80 ? nfr::v1::PROTOCOL_UDP
                    : proto <= 85 ? nfr::v1::PROTOCOL_ICMP
                                  : nfr::v1::PROTOCOL_ANY);
    // Rules name hosts or subnets on at least one side, as rule sets of this size do.
    const bool dst = g.Chance(85);
    if (dst) {
      for (int k = g.Int(1, 3); k > 0; --k) {
        r->add_dst_prefixes(g.Any(g.Chance(70), g.Chance(60)).ToString());
      }
    }
    if (!dst || g.Chance(30)) r->add_src_prefixes(g.Any(g.Chance(70), g.Chance(30)).ToString());
    const bool l4 =
        r->protocol() == nfr::v1::PROTOCOL_TCP || r->protocol() == nfr::v1::PROTOCOL_UDP;
    if (l4 && g.Chance(70)) {
      for (int k = g.Int(1, 3); k > 0; --k) {
        auto* pr = r->add_dst_ports();
        pr->set_first(g.Port());
        if (g.Chance(range_pct)) pr->set_last(std::min<int>(65535, pr->first() + g.Int(1, 1000)));
      }
    }
    if (l4 && g.Chance(5)) r->add_src_ports()->set_first(g.Port());
    if (g.Chance(10)) r->set_interface(kIfaces[g.Int(0, 7)]);
    if (g.Chance(20))
      r->set_direction(g.Chance(50) ? nfr::v1::DIRECTION_INGRESS : nfr::v1::DIRECTION_EGRESS);
    r->set_action(g.Chance(50) ? nfr::v1::ACTION_ACCEPT : nfr::v1::ACTION_DROP);
  }
  return p;
}

nfr::v1::Policy MakeSetPolicy(Gen& g, int set_size) {
  nfr::v1::Policy p = MakeRules(g, 10);
  auto& set = (*p.mutable_sets())["blocklist"];
  set.mutable_prefixes()->Reserve(set_size);
  for (int i = 0; i < set_size; ++i) set.add_prefixes(g.Any(i % 2 == 0, g.Chance(30)).ToString());
  auto* r = p.mutable_rules()->Add();
  r->set_id("blocklist");
  r->set_dst_set("blocklist");
  r->set_action(nfr::v1::ACTION_DROP);
  p.mutable_rules()->SwapElements(0, p.rules_size() - 1);  // first, as blocklists are
  return p;
}

struct Flow {
  PacketInfo packet;
  const char* iface;
  nfr::v1::Direction dir;
};

void SetAddr(PacketInfo& p, std::array<uint8_t, 16>& a, const Prefix& prefix, Gen& g) {
  p.family = prefix.family;
  a = prefix.addr;
  for (int bit = prefix.len; bit < (prefix.family == 4 ? 32 : 128); ++bit) {
    if (g.Chance(50)) a[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  }
}

// Half the flows aim at what some rule or set names (first address of one of its
// prefixes, its protocol and ports), half are random.
std::vector<Flow> MakeFlows(Gen& g, const nfr::v1::Policy& policy, int n) {
  std::vector<Flow> flows;
  flows.reserve(n);
  const auto* set = policy.sets().contains("blocklist") ? &policy.sets().at("blocklist") : nullptr;
  for (int i = 0; i < n; ++i) {
    Flow f{};
    PacketInfo& p = f.packet;
    const bool v4 = g.Chance(60);
    const nfr::v1::Rule& r = policy.rules(g.Int(0, policy.rules_size() - 1));
    const bool aimed = g.Chance(50);
    p.protocol = aimed && r.protocol() ? r.protocol() : (g.Chance(50) ? 6 : 17);
    if (p.protocol == 1 && !v4) p.protocol = 58;
    Prefix dst = g.Any(v4, true), src = g.Any(v4, true);
    if (aimed && set && g.Chance(90))
      dst = *ParsePrefix(set->prefixes(g.Int(0, set->prefixes_size() - 1)));
    if (aimed && !r.dst_prefixes().empty()) dst = *ParsePrefix(r.dst_prefixes(0));
    if (aimed && !r.src_prefixes().empty()) src = *ParsePrefix(r.src_prefixes(0));
    if (src.family != dst.family) src = g.Any(dst.family == 4, true);
    SetAddr(p, p.dst, dst, g);
    SetAddr(p, p.src, src, g);
    if (p.protocol == 6 || p.protocol == 17) {
      p.has_ports = true;
      p.src_port = static_cast<uint16_t>(g.Int(1024, 65535));
      p.dst_port = aimed && !r.dst_ports().empty() ? r.dst_ports(0).first() : g.Port();
    }
    f.iface = aimed && !r.interface().empty() ? kIfaces[0] : kIfaces[g.Int(0, 7)];
    f.dir = g.Chance(50) ? nfr::v1::DIRECTION_INGRESS : nfr::v1::DIRECTION_EGRESS;
    flows.push_back(f);
  }
  return flows;
}

// The pre-index matcher: every rule in order, every prefix in a rule or set.
class LinearMatcher {
 public:
  explicit LinearMatcher(const nfr::v1::Policy& policy) {
    for (const auto& r : policy.rules()) {
      Rule lr{r.interface(), r.direction(), static_cast<uint8_t>(r.protocol()), {}, {}, {}, {}};
      auto prefixes = [&](const auto& list, const std::string& set_name) {
        std::vector<Prefix> out;
        const auto& src = set_name.empty() ? list : policy.sets().at(set_name).prefixes();
        for (const auto& t : src) out.push_back(*ParsePrefix(t));
        return out;
      };
      lr.src = prefixes(r.src_prefixes(), r.src_set());
      lr.dst = prefixes(r.dst_prefixes(), r.dst_set());
      lr.any_src = r.src_prefixes().empty() && r.src_set().empty();
      lr.any_dst = r.dst_prefixes().empty() && r.dst_set().empty();
      for (const auto& pr : r.src_ports())
        lr.sports.push_back({pr.first(), pr.last() ? pr.last() : pr.first()});
      for (const auto& pr : r.dst_ports())
        lr.dports.push_back({pr.first(), pr.last() ? pr.last() : pr.first()});
      rules_.push_back(std::move(lr));
    }
  }
  int Match(const PacketInfo& p, absl::string_view iface, nfr::v1::Direction dir) const {
    for (size_t i = 0; i < rules_.size(); ++i) {
      const Rule& r = rules_[i];
      if (!r.iface.empty() && r.iface != iface) continue;
      if (r.dir != nfr::v1::DIRECTION_ANY && r.dir != dir) continue;
      if (r.proto && r.proto != p.protocol) continue;
      if (!r.any_src && !In(p, p.src, r.src)) continue;
      if (!r.any_dst && !In(p, p.dst, r.dst)) continue;
      if (!r.sports.empty() && (!p.has_ports || !InPorts(p.src_port, r.sports))) continue;
      if (!r.dports.empty() && (!p.has_ports || !InPorts(p.dst_port, r.dports))) continue;
      return static_cast<int>(i);
    }
    return -1;
  }

 private:
  struct Rule {
    std::string iface;
    nfr::v1::Direction dir;
    uint8_t proto;
    std::vector<Prefix> src, dst;
    std::vector<std::pair<uint32_t, uint32_t>> sports, dports;
    bool any_src = true, any_dst = true;
  };
  static bool In(const PacketInfo& p, const std::array<uint8_t, 16>& a,
                 const std::vector<Prefix>& v) {
    for (const auto& x : v) {
      if (x.Contains(p.family, a)) return true;
    }
    return false;
  }
  static bool InPorts(uint16_t port, const std::vector<std::pair<uint32_t, uint32_t>>& v) {
    for (const auto& [a, b] : v) {
      if (port >= a && port <= b) return true;
    }
    return false;
  }
  std::vector<Rule> rules_;
};

// Per-call latencies in ns of `match` over `flows`.
template <typename F>
void Time(const std::vector<Flow>& flows, size_t count, F match, std::vector<double>* out,
          int* matched) {
  for (size_t i = 0; i < count; ++i) {
    const Flow& f = flows[i % flows.size()];
    const auto t0 = Clock::now();
    const int m = match(f);
    const auto t1 = Clock::now();
    out->push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    *matched += m >= 0;
  }
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

struct Options {
  int packets = 200000;
  int rounds = 4;
  uint64_t seed = 9;
  std::string only;  // run just this case
  bool explain = false;
};

void RunCase(const char* name, int rules, int set_size, const Options& o) {
  Gen g(o.seed);
  const double rss0 = RssMiB();
  nfr::v1::Policy policy = set_size ? MakeSetPolicy(g, set_size) : MakeRules(g, rules);
  const double rss_proto = RssMiB();
  const std::vector<Flow> flows = MakeFlows(g, policy, 65536);
  const LinearMatcher linear(policy);
  const int num_rules = policy.rules_size();
  const double rss1 = RssMiB();
  const auto v0 = Clock::now();
  if (auto s = ValidatePolicy(policy); !s.ok())
    std::printf("%s: invalid: %s\n", name, s.ToString().c_str());
  const double validate_ms = std::chrono::duration<double, std::milli>(Clock::now() - v0).count();
  const auto c0 = Clock::now();
  auto compiled = CompiledPolicy::Compile(std::move(policy));
  const double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
  if (!compiled.ok()) {
    std::printf("%s: compile failed: %s\n", name, std::string(compiled.status().message()).c_str());
    return;
  }
  const double rss2 = RssMiB();
  malloc_trim(0);
  const double rss2_trim = RssMiB();
  const CompiledPolicy& c = **compiled;

  // Alternate indexed and linear rounds; the linear scan gets fewer packets when slow.
  std::vector<double> idx_ns, lin_ns;
  int idx_matched = 0, lin_matched = 0;
  const size_t linear_count =
      std::max<size_t>(50, std::min<size_t>(o.packets, 4e8 / (rules + set_size + 1) / 4));
  int disagree = 0;
  for (int round = 0; round < o.rounds; ++round) {
    Time(
        flows, o.packets / o.rounds,
        [&](const Flow& f) { return c.Match(f.packet, f.iface, f.dir).rule_index; }, &idx_ns,
        &idx_matched);
    Time(
        flows, linear_count / o.rounds,
        [&](const Flow& f) { return linear.Match(f.packet, f.iface, f.dir); }, &lin_ns,
        &lin_matched);
  }
  for (size_t i = 0; i < std::min<size_t>(flows.size(), linear_count); ++i) {
    const Flow& f = flows[i];
    disagree +=
        c.Match(f.packet, f.iface, f.dir).rule_index != linear.Match(f.packet, f.iface, f.dir);
  }
  std::printf(
      "%-12s %7d %8d | %7.0f %7.0f %7.0f | %10.0f %10.0f | %7.0fx | %8.1f | %7.1f %7.1f %7.1f "
      "%7.1f | %3.0f%% %d\n",
      name, num_rules, set_size, Pct(idx_ns, 0.5), Pct(idx_ns, 0.99), Pct(idx_ns, 0.999),
      Pct(lin_ns, 0.5), Pct(lin_ns, 0.99), Pct(lin_ns, 0.5) / Pct(idx_ns, 0.5), compile_ms,
      rss_proto - rss0, rss2 - rss1, rss2_trim - rss1, c.index_bytes() / 1048576.0,
      100.0 * idx_matched / idx_ns.size(), disagree);
  std::printf("%-12s   (of the compile time, validation alone: %.1f ms)\n", "", validate_ms);
  if (o.explain) {
    std::printf("%-12s   index: %s\n", "", c.index().MemoryBreakdown().c_str());
    // idx_ns[i] timed flows[(i % per_round) % flows.size()] in round i / per_round.
    const size_t per_round = o.packets / o.rounds;
    std::vector<RuleIndex::MatchStats> per_flow(flows.size());
    for (size_t i = 0; i < flows.size(); ++i) {
      c.index().MatchWithStats(flows[i].packet, flows[i].iface, flows[i].dir, &per_flow[i]);
    }
    std::vector<size_t> order(idx_ns.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return idx_ns[a] < idx_ns[b]; });
    std::vector<size_t> seq(idx_ns.size());
    for (size_t i = 0; i < idx_ns.size(); ++i) seq[i] = i % per_round;
    std::vector<size_t> mid, slow;
    for (size_t k = order.size() * 45 / 100; k < order.size() * 55 / 100; ++k)
      mid.push_back(order[k]);
    for (size_t k = order.size() * 99 / 100; k < order.size(); ++k) slow.push_back(order[k]);
    auto flows_of = [&](std::vector<size_t> v) {
      for (auto& x : v) x = seq[x];
      return v;
    };
    auto print = [&](const char* label, const std::vector<size_t>& calls) {
      std::vector<size_t> f = flows_of(calls);
      double groups = 0, tried = 0, lists = 0, words = 0, searches = 0, rules = 0, t = 0;
      for (size_t k = 0; k < calls.size(); ++k) {
        const auto& s = per_flow[f[k] % flows.size()];
        groups += s.groups;
        tried += s.groups_tried;
        lists += s.lists;
        words += s.words;
        searches += s.searches;
        rules += s.rules;
        t += idx_ns[calls[k]];
      }
      const double n = std::max<size_t>(1, calls.size());
      std::printf(
          "%-12s   %-9s %6zu calls, mean %6.0f ns: groups %5.1f, tried %5.1f, lists %5.1f, "
          "words %6.1f, searches %5.1f, rules %5.1f\n",
          "", label, calls.size(), t / n, groups / n, tried / n, lists / n, words / n, searches / n,
          rules / n);
    };
    print("p45-p55", mid);
    print(">= p99", slow);
    // The slow calls' flows again, each timed right after a warm-up call.
    std::vector<double> warm;
    int unused = 0;
    for (size_t x : flows_of(slow)) {
      const Flow& f = flows[x % flows.size()];
      c.Match(f.packet, f.iface, f.dir);
      Time(
          std::vector<Flow>{f}, 1,
          [&](const Flow& g) { return c.Match(g.packet, g.iface, g.dir).rule_index; }, &warm,
          &unused);
    }
    std::printf("%-12s   >= p99 flows re-timed warm: p50 %.0f ns, p99 %.0f ns\n", "",
                Pct(warm, 0.5), Pct(warm, 0.99));
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace nfr

int main(int argc, char** argv) {
  nfr::Options o;
  static constexpr const char* kUsage =
      "usage: classify [--packets N] [--rounds R] [--seed S] [--port-ranges PCT] [--case NAME]\n"
      "                [--explain]\n"
      "New-flow classification cost (ns per call, p50/p99/p99.9) at 10, 1k, 100k rules and with\n"
      "a 1M-prefix set, against a linear first-match scan; compile time; RSS growth.\n"
      "  --packets N       indexed lookups per case (default 200000)\n"
      "  --rounds R        alternating indexed/linear rounds (default 4)\n"
      "  --seed S          generator seed (default 9)\n"
      "  --port-ranges PCT share of destination port specs that are ranges (default 10)\n"
      "  --case NAME       run one case: \"10 rules\", \"1k rules\", \"100k rules\", \"1M-set\"\n"
      "  --explain         per case, what the median and the slowest 1% of lookups touched\n"
      "Run it under `flock /work/bench.lock` on a machine otherwise idle; see bench/README.md.\n";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--explain") {
      o.explain = true;
      continue;
    }
    const bool takes_value = arg == "--packets" || arg == "--rounds" || arg == "--seed" ||
                             arg == "--port-ranges" || arg == "--case";
    if (!takes_value) {
      std::fprintf(stderr, "classify: unknown option '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "classify: %s needs a value\n%s", arg.c_str(), kUsage);
      return 2;
    }
    const char* v = argv[++i];
    char* rest = nullptr;
    const long long n = std::strtoll(v, &rest, 10);
    const bool number = *v != '\0' && *rest == '\0' && n >= 0;
    if (arg == "--case") {
      o.only = v;
      continue;
    }
    if (!number || (arg != "--seed" && arg != "--port-ranges" && (n < 1 || n > 1000000000)) ||
        (arg == "--port-ranges" && n > 100)) {
      std::fprintf(stderr, "classify: %s wants %s, not '%s'\n", arg.c_str(),
                   arg == "--port-ranges" ? "a percentage 0-100"
                   : arg == "--seed"      ? "a non-negative integer"
                                          : "a positive integer",
                   v);
      return 2;
    }
    if (arg == "--packets") o.packets = static_cast<int>(n);
    if (arg == "--rounds") o.rounds = static_cast<int>(n);
    if (arg == "--seed") o.seed = static_cast<uint64_t>(n);
    if (arg == "--port-ranges") nfr::range_pct = static_cast<int>(n);
  }
  std::printf(
      "classification per new flow (ns; timer included), indexed vs linear scan, alternating\n"
      "%-12s %7s %8s | %7s %7s %7s | %10s %10s | %8s | %8s | %7s %7s %7s %7s | %s\n",
      "case", "rules", "set", "p50", "p99", "p99.9", "lin p50", "lin p99", "speedup", "compile",
      "proto", "compile", "trimmed", "index", "matched, disagreements");
  std::printf("%-12s %7s %8s | %23s | %21s | %8s | %8s | %31s |\n", "", "", "", "indexed", "linear",
              "p50", "ms", "RSS growth MiB (+index bytes)");
  const struct {
    const char* name;
    int rules, set;
  } cases[] = {{"10 rules", 10, 0},
               {"1k rules", 1000, 0},
               {"100k rules", 100000, 0},
               {"1M-set", 0, 1 << 20}};
  if (!o.only.empty() && std::none_of(std::begin(cases), std::end(cases),
                                      [&](const auto& k) { return o.only == k.name; })) {
    std::fprintf(stderr, "classify: no case '%s'\n%s", o.only.c_str(), kUsage);
    return 2;
  }
  std::fflush(stdout);
  for (const auto& k : cases) {
    if (!o.only.empty() && o.only != k.name) continue;
    const pid_t pid = fork();
    if (pid == 0) {
      nfr::RunCase(k.name, k.rules, k.set, o);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "%s: child failed (status %d)\n", k.name, status);
      return 1;
    }
  }
  return 0;
}
