// Datapath manager against the real kernel: a throwaway netns with a veth pair, real pins on
// bpffs, real tc filters, the real compat iptables/nft rule, and a crashed (SIGKILLed) agent.
#include "agent/datapath/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/config/config_defaults.h"
#include "agent/datapath/compat_rule.h"
#include "agent/datapath/flow_cache.h"
#include "agent/datapath/ownership_lock.h"
#include "agent/datapath/tc_attach.h"
#include "gtest/gtest.h"
#include "tests/bpf/frames.h"
#include "tests/bpf/netns.h"

namespace nfr::test {
namespace {

using datapath::TcDirection;

constexpr const char* kIf = "nfrt0";
constexpr const char* kPeer = "nfrt1";
const char* kMapNames[] = {NFR_MAP_CONFIG,    NFR_MAP_FLOWS,     NFR_MAP_SEL_V4, NFR_MAP_SEL_V6,
                           NFR_MAP_SEL_PROTO, NFR_MAP_SEL_PORTS, NFR_MAP_IFACES, NFR_MAP_STATS,
                           NFR_MAP_BUDGET,    NFR_MAP_IFIDX};

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (netns, bpffs, tc, iptables)";
    std::string err;
    netns_ = ScopedNetns::Enter(&err);
    ASSERT_NE(netns_, nullptr) << err;
    ASSERT_EQ(Cmd({"ip", "link", "add", kIf, "type", "veth", "peer", "name", kPeer}), 0);
    ASSERT_EQ(Cmd({"ip", "link", "set", kIf, "up"}), 0);
    ASSERT_EQ(Cmd({"ip", "link", "set", kPeer, "up"}), 0);
    ifindex_ = static_cast<int>(if_nametoindex(kIf));
    pin_dir_ = absl::StrCat("/sys/fs/bpf/nfrdp-test-", getpid());
    config_.set_bpf_pin_dir(pin_dir_);
    config_.add_interfaces()->set_name(kIf);
    // A fresh datapath per test; adoption across restarts has its own test below and
    // integration.restart.
    config_.mutable_restart()->set_keep_flow_cache(false);
    ApplyDefaults(config_);
  }
  void TearDown() override {
    if (!peer_ns_.empty()) Cmd({"ip", "netns", "del", peer_ns_});
    netns_.reset();
    if (!pin_dir_.empty()) {
      unlink(absl::StrCat("/run/nfr/datapath-", datapath::PinDirKey(pin_dir_), ".lock").c_str());
    }
  }

  bool Pinned(const char* name) { return access((pin_dir_ + "/" + name).c_str(), F_OK) == 0; }
  int PinnedCount() {
    int n = 0;
    for (const char* m : kMapNames) n += Pinned(m);
    return n;
  }
  // nfr-agent rules in mangle PREROUTING of this netns, over all iptables flavours and nft.
  int CompatRuleCount() {
    int n = 0;
    for (const char* bin :
         {"iptables-nft", "ip6tables-nft", "iptables-legacy", "ip6tables-legacy"}) {
      std::string out;
      if (Cmd({bin, "-w", "5", "-t", "mangle", "-S", "PREROUTING"}, &out) != 0) continue;
      for (size_t p = out.find("nfr-agent"); p != std::string::npos;
           p = out.find("nfr-agent", p + 1)) {
        ++n;
      }
    }
    std::string out;
    if (Cmd({"nft", "list", "table", "inet", "nfr_agent"}, &out) == 0) ++n;
    return n;
  }
  uint32_t IngressProg() { return datapath::TcQueryProgId(ifindex_, TcDirection::kIngress); }
  std::string LockPath() {
    return absl::StrCat("/run/nfr/datapath-", datapath::PinDirKey(pin_dir_), ".lock");
  }

  std::unique_ptr<ScopedNetns> netns_;
  std::string peer_ns_;
  std::string pin_dir_;
  int ifindex_ = 0;
  nfr::v1::AgentConfig config_;
};

TEST(KernelCapabilityTest, ProbeOnThisKernel) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load the probe program";
  KernelCapability cap = ProbeKernelCapability();
  bool patched = access("/proc/sys/net/core/tc_nf_redirect", F_OK) == 0;
  EXPECT_EQ(cap.sysctl_present, patched);
  EXPECT_EQ(cap.native(), patched);
  std::cout << "[ capability ] " << cap.Describe() << "\n";
  if (!patched) {
    EXPECT_FALSE(cap.test_run_redirect);
    EXPECT_TRUE(absl::StrContains(cap.Describe(), "lacks tc_nf_redirect")) << cap.Describe();
  }
}

TEST_F(DatapathTest, StartAttachesPinsAndInstallsCompatRule) {
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  DatapathStatus st = (*dp)->status();
  std::cout << "[ datapath ] mode=" << st.mode << " backend=" << st.compat_backend
            << " capability=" << st.capability.Describe() << "\n";
  if (access("/proc/sys/net/core/tc_nf_redirect", F_OK) != 0) {
    EXPECT_EQ(st.mode, "compat");
    EXPECT_FALSE((*dp)->native());
    EXPECT_TRUE(st.compat_backend == "iptables-nft" || st.compat_backend == "iptables-legacy" ||
                st.compat_backend == "nftables")
        << st.compat_backend;
    // One rule per family (iptables) or one table (nftables).
    EXPECT_EQ(CompatRuleCount(), st.compat_backend == "nftables" ? 1 : 2);
  }
  EXPECT_EQ(st.interfaces, std::vector<std::string>{kIf});
  EXPECT_EQ(PinnedCount(), static_cast<int>(std::size(kMapNames)));
  uint32_t id = IngressProg();
  ASSERT_NE(id, 0u);
  EXPECT_EQ(datapath::BpfProgName(id), "nfr_ingress");
  EXPECT_EQ(datapath::TcQueryProgId(ifindex_, TcDirection::kEgress), 0u);
  EXPECT_EQ((*dp)->ReadStats().size(), size_t{NFR_STAT_MAX});

  // The pinned config says compat mode with the default mark and pending TTL.
  int cfd = bpf_obj_get((pin_dir_ + "/" NFR_MAP_CONFIG).c_str());
  ASSERT_GE(cfd, 0);
  uint32_t zero = 0;
  nfr_config c = {};
  ASSERT_EQ(bpf_map_lookup_elem(cfd, &zero, &c), 0);
  close(cfd);
  EXPECT_EQ(c.mode, uint32_t{NFR_MODE_COMPAT});
  EXPECT_EQ(c.compat_mark, 0x01000000u);
  EXPECT_EQ(c.pending_ttl_ms, 6000u);
  EXPECT_EQ(c.flags, uint32_t{NFR_CFG_DEFAULT_DROP}) << "no policy: the default verdict is drop";
  EXPECT_EQ(c.budget_rate, 1000u);
  EXPECT_EQ(c.budget_burst, 2000u);
  ASSERT_TRUE((*dp)->SetPendingTimeout(absl::Seconds(20)).ok());
  ASSERT_TRUE((*dp)->SetDefaultVerdict(false).ok());
  cfd = bpf_obj_get((pin_dir_ + "/" NFR_MAP_CONFIG).c_str());
  ASSERT_EQ(bpf_map_lookup_elem(cfd, &zero, &c), 0);
  close(cfd);
  EXPECT_EQ(c.pending_ttl_ms, 21000u);
  EXPECT_EQ(c.flags, 0u);
  EXPECT_EQ(c.mode, uint32_t{NFR_MODE_COMPAT});
}

TEST_F(DatapathTest, SecondStartWithSamePinDirIsRefusedNamingPid) {
  auto first = Datapath::Start(config_);
  ASSERT_TRUE(first.ok()) << first.status();
  uint32_t id = IngressProg();
  auto second = Datapath::Start(config_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  std::string msg(second.status().message());
  EXPECT_TRUE(absl::StrContains(msg, absl::StrCat("pid ", getpid()))) << msg;
  EXPECT_TRUE(absl::StrContains(msg, pin_dir_)) << msg;
  std::cout << "[ refused ] " << msg << "\n";
  // The refused start must not have touched the owner's datapath.
  EXPECT_EQ(IngressProg(), id);
  EXPECT_EQ(PinnedCount(), static_cast<int>(std::size(kMapNames)));
}

TEST_F(DatapathTest, DestructorDetachesUnpinsAndRemovesCompatRule) {
  {
    auto dp = Datapath::Start(config_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    ASSERT_NE(IngressProg(), 0u);
  }
  EXPECT_EQ(IngressProg(), 0u);
  EXPECT_EQ(PinnedCount(), 0);
  EXPECT_NE(access(pin_dir_.c_str(), F_OK), 0) << "empty pin dir should be removed";
  EXPECT_EQ(CompatRuleCount(), 0);
  EXPECT_NE(access(LockPath().c_str(), F_OK), 0) << "clean shutdown removes the lock file";
  // Lock released: a new agent can start at once.
  auto again = Datapath::Start(config_);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(DatapathTest, KeepFlowCacheLeavesPinsAndTheNextStartAdoptsTheFlows) {
  config_.mutable_restart()->set_keep_flow_cache(true);
  nfr_flow_key key = {};
  key.family = AF_INET;
  key.proto = IPPROTO_UDP;
  key.sport = htons(1234);
  {
    auto dp = Datapath::Start(config_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    ASSERT_TRUE((*dp)->flows().Set(key, NFR_VERDICT_ALLOW, absl::InfiniteDuration()).ok());
  }
  EXPECT_EQ(IngressProg(), 0u) << "detached on exit";
  EXPECT_EQ(PinnedCount(), static_cast<int>(std::size(kMapNames))) << "pins kept for a restart";
  {
    auto dp = Datapath::Start(config_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_EQ((*dp)->adopted_maps().size(), 3u);
    auto v = (*dp)->flows().Lookup(key);
    ASSERT_TRUE(v.has_value()) << "the cached flow survives the restart";
    EXPECT_EQ(v->verdict, NFR_VERDICT_ALLOW);
  }
  config_.mutable_restart()->set_keep_flow_cache(false);
  {
    auto dp = Datapath::Start(config_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_TRUE((*dp)->adopted_maps().empty());
    EXPECT_FALSE((*dp)->flows().Lookup(key).has_value()) << "keep_flow_cache false: recreated";
  }
  EXPECT_EQ(PinnedCount(), 0);
}

TEST_F(DatapathTest, StartAfterCrashCleansLeftoversAndSucceeds) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    auto dp = Datapath::Start(config_);
    char c = dp.ok() ? 'k' : 'e';
    if (!dp.ok()) std::cerr << "child: " << dp.status() << "\n";
    if (write(pipefd[1], &c, 1) != 1) _exit(3);
    raise(SIGKILL);  // crash: no destructor, no cleanup
    _exit(4);
  }
  close(pipefd[1]);
  char c = 0;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  close(pipefd[0]);
  int wst = 0;
  ASSERT_EQ(waitpid(child, &wst, 0), child);
  ASSERT_EQ(c, 'k') << "child agent failed to start";
  ASSERT_TRUE(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);

  // Leftovers of the crashed agent.
  uint32_t stale_id = IngressProg();
  EXPECT_NE(stale_id, 0u) << "filter must survive the crash (traffic keeps flowing)";
  EXPECT_EQ(PinnedCount(), static_cast<int>(std::size(kMapNames)));
  EXPECT_GT(CompatRuleCount(), 0);
  EXPECT_EQ(access(LockPath().c_str(), F_OK), 0);

  {
    auto dp = Datapath::Start(config_);
    ASSERT_TRUE(dp.ok()) << dp.status();
    uint32_t id = IngressProg();
    EXPECT_NE(id, 0u);
    EXPECT_NE(id, stale_id) << "the new program must replace the crashed agent's filter";
    DatapathStatus st = (*dp)->status();
    EXPECT_EQ(CompatRuleCount(), st.compat_backend == "nftables" ? 1 : 2)
        << "stale rule must be replaced, not duplicated";
    EXPECT_EQ(PinnedCount(), static_cast<int>(std::size(kMapNames)));
  }
  EXPECT_EQ(IngressProg(), 0u);
  EXPECT_EQ(PinnedCount(), 0);
  EXPECT_EQ(CompatRuleCount(), 0);
}

TEST_F(DatapathTest, MissingInterfaceNamesItAndTheFix) {
  config_.add_interfaces()->set_name("nfr-nope0");
  auto dp = Datapath::Start(config_);
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(dp.status().message());
  EXPECT_TRUE(absl::StrContains(msg, "nfr-nope0")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "does not exist")) << msg;
  EXPECT_EQ(IngressProg(), 0u);
}

TEST_F(DatapathTest, NativeModeWithoutKernelSupportIsRefusedAndLeavesNothing) {
  if (access("/proc/sys/net/core/tc_nf_redirect", F_OK) == 0) {
    GTEST_SKIP() << "kernel has the pathway";
  }
  config_.set_mode(nfr::v1::MODE_NATIVE);
  auto dp = Datapath::Start(config_);
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.status().code(), absl::StatusCode::kFailedPrecondition);
  std::string msg(dp.status().message());
  EXPECT_TRUE(absl::StrContains(msg, "--mode=compat")) << msg;
  std::cout << "[ refused ] " << msg << "\n";
  EXPECT_EQ(IngressProg(), 0u);
  EXPECT_EQ(PinnedCount(), 0);
  EXPECT_EQ(CompatRuleCount(), 0);
  config_.set_mode(nfr::v1::MODE_COMPAT);
  auto dp2 = Datapath::Start(config_);
  EXPECT_TRUE(dp2.ok()) << dp2.status();
}

TEST_F(DatapathTest, EgressRequestInCompatModeAttachesIngressOnly) {
  if (access("/proc/sys/net/core/tc_nf_redirect", F_OK) == 0) {
    GTEST_SKIP() << "kernel has the pathway";
  }
  config_.mutable_interfaces(0)->set_egress(true);
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_EQ((*dp)->status().interfaces, std::vector<std::string>{kIf});
  EXPECT_NE(IngressProg(), 0u);
  EXPECT_EQ(datapath::TcQueryProgId(ifindex_, TcDirection::kEgress), 0u);
}

TEST_F(DatapathTest, FlowVerdictSetLookupExpireDelete) {
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  Datapath& d = **dp;
  nfr_flow_key k = Key4(IPPROTO_TCP, "10.77.0.2", 40000, "10.77.1.2", 80);
  k.pad = 0xffff;  // padding is canonicalised, never part of the identity
  ASSERT_TRUE(d.flows().Set(k, NFR_VERDICT_ALLOW, absl::Seconds(60)).ok());
  auto v = d.flows().Lookup(k);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->verdict, uint32_t{NFR_VERDICT_ALLOW});
  EXPECT_GT(v->expires_ns, datapath::MonotonicNowNs() + 59'000'000'000ull);

  ASSERT_TRUE(d.flows().Set(k, NFR_VERDICT_DENY, absl::InfiniteDuration()).ok());
  v = d.flows().Lookup(k);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->expires_ns, 0u);
  EXPECT_EQ(v->verdict, uint32_t{NFR_VERDICT_DENY});

  ASSERT_TRUE(d.flows().Set(k, NFR_VERDICT_ALLOW, absl::Milliseconds(1)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(d.flows().Lookup(k).has_value()) << "expired entries read as absent";

  ASSERT_TRUE(d.flows().Set(k, NFR_VERDICT_ALLOW, absl::Seconds(60)).ok());
  EXPECT_TRUE(d.flows().Delete(k).ok());
  EXPECT_FALSE(d.flows().Lookup(k).has_value());
  EXPECT_TRUE(d.flows().Delete(k).ok()) << "deleting an absent flow is not an error";

  // Threads writing concurrently.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&d, t] {
      for (int i = 0; i < 200; ++i) {
        nfr_flow_key kk =
            Key4(IPPROTO_UDP, "10.77.0.2", static_cast<uint16_t>(t * 1000 + i), "10.77.1.2", 53);
        ASSERT_TRUE(d.flows().Set(kk, NFR_VERDICT_ALLOW, absl::Seconds(10)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(d.flows().Lookup(Key4(IPPROTO_UDP, "10.77.0.2", 3199, "10.77.1.2", 53)).has_value());
}

// Full values keep their origin; the batch calls see, rewrite and delete many entries; the map
// has the configured size.
TEST_F(DatapathTest, FlowValuesWithOriginAndBatchOps) {
  config_.mutable_flow_cache()->set_max_entries(20000);
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  Datapath& d = **dp;
  EXPECT_EQ(d.flow_cache_capacity(), 20000u);
  int fd = bpf_obj_get((pin_dir_ + "/" NFR_MAP_FLOWS).c_str());
  ASSERT_GE(fd, 0);
  bpf_map_info info = {};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  close(fd);
  EXPECT_EQ(info.max_entries, 20000u);
  EXPECT_EQ(info.value_size, sizeof(nfr_flow_value));
  EXPECT_EQ(sizeof(nfr_flow_value), 32u);

  nfr_flow_key one = Key4(IPPROTO_TCP, "10.77.0.2", 1, "10.77.1.2", 80);
  nfr_flow_value v = {};
  v.expires_ns = datapath::ExpiryFromTtl(absl::Seconds(60));
  v.verdict = NFR_VERDICT_ALLOW;
  v.origin = NFR_ORIGIN_CONTROLLER;
  v.ifindex = static_cast<uint32_t>(ifindex_);
  v.rule = 3;
  v.origin_id = 0x123456789ull;
  ASSERT_TRUE(d.flows().SetValue(one, v).ok());
  auto got = d.flows().Lookup(one);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->origin, NFR_ORIGIN_CONTROLLER);
  EXPECT_EQ(got->rule, 3u);
  EXPECT_EQ(got->origin_id, 0x123456789ull);
  EXPECT_EQ(got->ifindex, static_cast<uint32_t>(ifindex_));

  // 10000 policy entries (plus `one`), 100 of them already expired.
  std::vector<nfr_flow_key> keys;
  std::vector<nfr_flow_value> values;
  for (uint32_t i = 0; i < 10000; ++i) {
    nfr_flow_key k = Key6(IPPROTO_UDP, "fd77::2", static_cast<uint16_t>(i), "fd77:1::2", 53);
    k.saddr[2] = htonl(i >> 16);
    nfr_flow_value pv = {};
    pv.expires_ns = i < 100 ? 1 : datapath::ExpiryFromTtl(absl::Seconds(60));
    pv.verdict = NFR_VERDICT_ALLOW;
    pv.origin = NFR_ORIGIN_POLICY;
    pv.rule = i % 7 + 1;
    pv.origin_id = 42;
    keys.push_back(k);
    values.push_back(pv);
  }
  ASSERT_TRUE(d.flows().UpdateMany(keys, values).ok());

  // Re-evaluate: every policy entry of rule 1 becomes a DENY of version 43.
  size_t seen = 0, chunks = 0, controller = 0;
  std::vector<nfr_flow_key> deny_keys;
  std::vector<nfr_flow_value> deny_values;
  ASSERT_TRUE(d.flows().Dump([&](absl::Span<const nfr_flow_key> ks,
                              absl::Span<const nfr_flow_value> vs) {
                 ++chunks;
                 seen += ks.size();
                 for (size_t i = 0; i < ks.size(); ++i) {
                   if (vs[i].origin == NFR_ORIGIN_CONTROLLER) ++controller;
                   if (vs[i].origin != NFR_ORIGIN_POLICY || vs[i].rule != 1) continue;
                   nfr_flow_value nv = vs[i];
                   nv.verdict = NFR_VERDICT_DENY;
                   nv.origin_id = 43;
                   deny_keys.push_back(ks[i]);
                   deny_values.push_back(nv);
                 }
               }).ok());
  EXPECT_EQ(seen, 9901u) << "expired entries are not dumped";
  EXPECT_GE(chunks, 2u) << "dumped in chunks";
  EXPECT_EQ(controller, 1u);
  ASSERT_EQ(deny_keys.size(), 1414u);  // i % 7 == 0 for i in 100..9999
  ASSERT_TRUE(d.flows().UpdateMany(deny_keys, deny_values).ok());
  got = d.flows().Lookup(keys[700]);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->verdict, uint32_t{NFR_VERDICT_DENY});
  EXPECT_EQ(got->origin_id, 43u);
  EXPECT_EQ(d.flows().Lookup(keys[701])->verdict, uint32_t{NFR_VERDICT_ALLOW});

  // Delete half, with absent keys mixed in.
  std::vector<nfr_flow_key> gone(keys.begin(), keys.begin() + 5000);
  gone.insert(gone.begin() + 2500, Key4(IPPROTO_UDP, "192.0.2.1", 1, "192.0.2.2", 2));
  gone.push_back(Key4(IPPROTO_UDP, "192.0.2.1", 3, "192.0.2.2", 4));
  ASSERT_TRUE(d.flows().DeleteMany(gone).ok());
  ASSERT_TRUE(d.flows().DeleteMany(gone).ok()) << "deleting absent flows is not an error";
  EXPECT_FALSE(d.flows().Lookup(keys[4999]).has_value());
  EXPECT_TRUE(d.flows().Lookup(keys[5000]).has_value());
  seen = 0;
  ASSERT_TRUE(d.flows().Dump([&](absl::Span<const nfr_flow_key> ks,
                              absl::Span<const nfr_flow_value>) { seen += ks.size(); })
                  .ok());
  EXPECT_EQ(seen, 5001u);
  ASSERT_TRUE(d.flows().UpdateMany(keys, absl::MakeConstSpan(values).subspan(1)).code() ==
              absl::StatusCode::kInvalidArgument);
}

// SetFlows (the verdict engine's batch write) through the writer program: PENDING entries are
// overwritten in place, missing and decided ones are updated; a second FlowCache on the same map
// without the writer writes the same values with BPF_MAP_UPDATE_BATCH.
TEST_F(DatapathTest, SetFlowsOverwritesPendingInPlaceAndUpdatesTheRest) {
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  datapath::FlowCache& cache = (*dp)->flows();
  ASSERT_EQ(cache.in_place_writes(), 0u);
  // 600 flows (three writer runs): even ones PENDING as the program inserts them, every third
  // one of the rest already decided (DENY), the others absent.
  std::vector<nfr_flow_key> keys;
  std::vector<nfr_flow_value> values;
  std::vector<absl::Duration> ttls;
  uint64_t pending = 0;
  for (uint32_t i = 0; i < 600; ++i) {
    nfr_flow_key k =
        Key4(IPPROTO_UDP, "10.77.0.2", static_cast<uint16_t>(1000 + i), "10.77.1.2", 53);
    k.pad = 7;  // not canonical: SetFlows must canonicalize for the writer too
    nfr_flow_value old = {};
    old.expires_ns = datapath::ExpiryFromTtl(absl::Seconds(30));
    old.verdict = i % 2 == 0 ? NFR_VERDICT_PENDING : NFR_VERDICT_DENY;
    old.origin = i % 2 == 0 ? NFR_ORIGIN_NONE : NFR_ORIGIN_POLICY;
    if (i % 2 == 0 || i % 3 == 0) {
      ASSERT_TRUE(cache.SetValue(k, old).ok());
      pending += i % 2 == 0;
    }
    nfr_flow_value v = {};
    v.verdict = NFR_VERDICT_ALLOW;
    v.origin = NFR_ORIGIN_POLICY;
    v.flags = NFR_FLOW_F_REPLIES;
    v.ifindex = static_cast<uint32_t>(ifindex_);
    v.rule = i + 1;
    v.origin_id = 99;
    keys.push_back(k);
    values.push_back(v);
    ttls.push_back(i == 5 ? absl::InfiniteDuration() : absl::Seconds(60));
  }
  ASSERT_TRUE(cache.SetFlows(keys, values, ttls).ok());
  EXPECT_EQ(cache.writer_fallbacks(), 0u) << "the writer program did not load or run here";
  EXPECT_EQ(cache.in_place_writes(), pending);
  const uint64_t soon = datapath::ExpiryFromTtl(absl::Seconds(50));
  for (uint32_t i = 0; i < 600; ++i) {
    auto got = cache.Lookup(keys[i]);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->verdict, uint32_t{NFR_VERDICT_ALLOW}) << i;
    EXPECT_EQ(got->origin, NFR_ORIGIN_POLICY) << i;
    EXPECT_EQ(got->flags, NFR_FLOW_F_REPLIES) << i;
    EXPECT_EQ(got->ifindex, static_cast<uint32_t>(ifindex_)) << i;
    EXPECT_EQ(got->rule, i + 1) << i;
    EXPECT_EQ(got->origin_id, 99u) << i;
    if (i == 5) {
      EXPECT_EQ(got->expires_ns, 0u);
    } else {
      EXPECT_GT(got->expires_ns, soon) << i;
    }
  }

  // The same through the map syscalls (no writer): same result, nothing in place.
  int fd = bpf_obj_get((pin_dir_ + "/" NFR_MAP_FLOWS).c_str());
  ASSERT_GE(fd, 0);
  datapath::FlowCache plain(fd);
  for (auto& v : values) v.origin_id = 100;
  ASSERT_TRUE(plain.SetFlows(keys, values, ttls).ok());
  EXPECT_EQ(plain.in_place_writes(), 0u);
  EXPECT_EQ(cache.Lookup(keys[599])->origin_id, 100u);
  close(fd);
  ASSERT_EQ(cache.SetFlows(keys, values, absl::MakeConstSpan(ttls).subspan(1)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DatapathTest, UpdateSelectionWritesMapsAndFlags) {
  config_.mutable_selection()->add_dst_ports(443);
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  auto map = [&](const char* n) { return bpf_obj_get((pin_dir_ + "/" + n).c_str()); };
  int cfg = map(NFR_MAP_CONFIG), ports = map(NFR_MAP_SEL_PORTS), protos = map(NFR_MAP_SEL_PROTO),
      v4 = map(NFR_MAP_SEL_V4), v6 = map(NFR_MAP_SEL_V6), ifs = map(NFR_MAP_IFACES);
  ASSERT_TRUE(cfg >= 0 && ports >= 0 && protos >= 0 && v4 >= 0 && v6 >= 0 && ifs >= 0);
  auto byte = [](int fd, uint32_t k) {
    uint8_t v = 0;
    bpf_map_lookup_elem(fd, &k, &v);
    return v;
  };
  auto flags = [&] {
    uint32_t zero = 0;
    nfr_config c = {};
    bpf_map_lookup_elem(cfg, &zero, &c);
    return c.flags & ~uint32_t{NFR_CFG_DEFAULT_DROP};
  };
  uint32_t ifk = static_cast<uint32_t>(ifindex_);
  nfr_iface ifv = {};
  ASSERT_EQ(bpf_map_lookup_elem(ifs, &ifk, &ifv), 0);
  EXPECT_EQ(ifv.flags, uint32_t{NFR_IF_INGRESS});
  EXPECT_EQ(byte(ports, 443), 1);
  EXPECT_EQ(flags(), uint32_t{NFR_CFG_PORT_FILTER});
  for (int p : {6, 17, 1, 58}) EXPECT_EQ(byte(protos, p), 1) << p;
  EXPECT_EQ(byte(protos, 47), 0);

  nfr::v1::SelectionConfig sel;
  sel.add_protocols(nfr::v1::PROTOCOL_TCP);
  sel.add_dst_ports(80);
  sel.add_prefixes("10.77.1.7/24");  // host bits are masked off
  sel.add_prefixes("fd77:1::/64");
  ASSERT_TRUE((*dp)->UpdateSelection(sel).ok());
  EXPECT_EQ(byte(ports, 443), 0);
  EXPECT_EQ(byte(ports, 80), 1);
  EXPECT_EQ(byte(protos, 17), 0);
  EXPECT_EQ(byte(protos, 6), 1);
  EXPECT_EQ(flags(),
            uint32_t{NFR_CFG_PORT_FILTER | NFR_CFG_V4_PREFIX_FILTER | NFR_CFG_V6_PREFIX_FILTER});
  nfr_lpm_v4_key k4 = {32, 0};
  inet_pton(AF_INET, "10.77.1.200", &k4.addr);
  uint8_t hit = 0;
  EXPECT_EQ(bpf_map_lookup_elem(v4, &k4, &hit), 0);
  nfr_lpm_v6_key k6 = {};
  k6.prefixlen = 128;
  inet_pton(AF_INET6, "fd77:1::99", k6.addr);
  EXPECT_EQ(bpf_map_lookup_elem(v6, &k6, &hit), 0);

  ASSERT_TRUE((*dp)->UpdateSelection({}).ok());
  EXPECT_EQ(flags(), 0u);
  EXPECT_NE(bpf_map_lookup_elem(v4, &k4, &hit), 0) << "old prefix must be gone";
  EXPECT_EQ(byte(ports, 80), 0);
  EXPECT_EQ(byte(protos, 17), 1);

  nfr::v1::SelectionConfig bad;
  bad.add_prefixes("10.77.0.0/33");
  auto st = (*dp)->UpdateSelection(bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "selection.prefixes[0]")) << st;
  for (int fd : {cfg, ports, protos, v4, v6, ifs}) close(fd);
}

// Real traffic: a ping from a peer namespace through the veth is marked by the program and
// matched by the compat NFQUEUE rule; with nobody on the queue, --queue-bypass lets it through.
TEST_F(DatapathTest, CompatTrafficIsMarkedAndBypassesEmptyQueue) {
  if (access("/proc/sys/net/core/tc_nf_redirect", F_OK) == 0) {
    GTEST_SKIP() << "kernel has the pathway";
  }
  peer_ns_ = absl::StrCat("nfrdp-peer-", getpid());
  ASSERT_EQ(Cmd({"ip", "netns", "add", peer_ns_}), 0);
  ASSERT_EQ(Cmd({"ip", "link", "set", kPeer, "netns", peer_ns_}), 0);
  ASSERT_EQ(Cmd({"ip", "addr", "add", "10.77.200.1/24", "dev", kIf}), 0);
  ASSERT_EQ(Cmd({"ip", "-n", peer_ns_, "addr", "add", "10.77.200.2/24", "dev", kPeer}), 0);
  ASSERT_EQ(Cmd({"ip", "-n", peer_ns_, "link", "set", kPeer, "up"}), 0);
  ASSERT_EQ(Cmd({"ip", "-n", peer_ns_, "link", "set", "lo", "up"}), 0);

  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();
  std::string out;
  int rc = Cmd(
      {"ip", "netns", "exec", peer_ns_, "ping", "-c", "2", "-W", "2", "-i", "0.2", "10.77.200.1"},
      &out);
  EXPECT_EQ(rc, 0) << out;
  std::vector<uint64_t> s = (*dp)->ReadStats();
  EXPECT_GE(s[NFR_STAT_TO_COMPAT], 1u);
  EXPECT_GE(s[NFR_STAT_CACHE_PENDING], 1u) << "second echo of the same id is pending";
  std::string backend = (*dp)->status().compat_backend;
  if (absl::StartsWith(backend, "iptables")) {
    std::string rules;
    ASSERT_EQ(
        Cmd({backend, "-w", "5", "-t", "mangle", "-L", "PREROUTING", "-v", "-x", "-n"}, &rules), 0);
    std::cout << rules;
    EXPECT_TRUE(absl::StrContains(rules, "NFQUEUE")) << rules;
    EXPECT_FALSE(absl::StrContains(rules, "       0        0 NFQUEUE")) << rules;
  }
  // A UDP flow with a fixed source port: first datagram goes up and leaves a pending entry;
  // once decided, later datagrams stay in the kernel (allow) or are dropped there (deny).
  auto send_udp = [&] {
    std::string o;
    int r = Cmd({"ip", "netns", "exec", peer_ns_, "python3", "-c",
                 "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                 "s.bind(('10.77.200.2', 5555)); s.sendto(b'x', ('10.77.200.1', 9999))"},
                &o);
    EXPECT_EQ(r, 0) << o;
  };
  nfr_flow_key k = Key4(IPPROTO_UDP, "10.77.200.2", 5555, "10.77.200.1", 9999);
  uint64_t up = (*dp)->ReadStats()[NFR_STAT_TO_COMPAT];
  send_udp();
  auto v = (*dp)->flows().Lookup(k);
  ASSERT_TRUE(v.has_value()) << "the program should have inserted a pending entry";
  EXPECT_EQ(v->verdict, uint32_t{NFR_VERDICT_PENDING});
  EXPECT_EQ((*dp)->ReadStats()[NFR_STAT_TO_COMPAT], up + 1);
  ASSERT_TRUE((*dp)->flows().Set(k, NFR_VERDICT_ALLOW, absl::Seconds(30)).ok());
  send_udp();
  s = (*dp)->ReadStats();
  EXPECT_EQ(s[NFR_STAT_CACHE_ALLOW], 1u);
  EXPECT_EQ(s[NFR_STAT_TO_COMPAT], up + 1) << "an allowed flow never goes up again";
  ASSERT_TRUE((*dp)->flows().Set(k, NFR_VERDICT_DENY, absl::Seconds(30)).ok());
  send_udp();
  EXPECT_EQ((*dp)->ReadStats()[NFR_STAT_CACHE_DENY], 1u);
}

// A tun device has no link-layer header at tc: the agent flags it NFR_IF_L3 and the program
// parses from the IP header. Packets written to the tun fd arrive on its tc ingress.
TEST_F(DatapathTest, TunDeviceIsParsedFromTheIpHeader) {
  int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0) GTEST_SKIP() << "no /dev/net/tun";
  ifreq ifr = {};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, "nfrtun0", IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(tun, TUNSETIFF, &ifr), 0) << strerror(errno);
  ASSERT_EQ(Cmd({"ip", "addr", "add", "10.77.201.1/24", "dev", "nfrtun0"}), 0);
  ASSERT_EQ(Cmd({"ip", "link", "set", "nfrtun0", "up"}), 0);
  config_.mutable_interfaces(0)->set_name("nfrtun0");
  auto dp = Datapath::Start(config_);
  ASSERT_TRUE(dp.ok()) << dp.status();

  int ifs = bpf_obj_get((pin_dir_ + "/" NFR_MAP_IFACES).c_str());
  ASSERT_GE(ifs, 0);
  uint32_t idx = if_nametoindex("nfrtun0");
  nfr_iface v = {};
  ASSERT_EQ(bpf_map_lookup_elem(ifs, &idx, &v), 0);
  close(ifs);
  EXPECT_EQ(v.flags, uint32_t{NFR_IF_INGRESS | NFR_IF_L3});

  Bytes pkt = Ip4(IPPROTO_UDP, "10.77.201.2", "10.77.201.1", Udp(7000, 9000));
  ASSERT_EQ(write(tun, pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  nfr_flow_key k = Key4(IPPROTO_UDP, "10.77.201.2", 7000, "10.77.201.1", 9000);
  for (int i = 0; i < 100 && !(*dp)->flows().Lookup(k); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto f = (*dp)->flows().Lookup(k);
  ASSERT_TRUE(f.has_value()) << "NOT_IP=" << (*dp)->ReadStats()[NFR_STAT_NOT_IP];
  EXPECT_EQ(f->verdict, uint32_t{NFR_VERDICT_PENDING});
  EXPECT_EQ((*dp)->ReadStats()[NFR_STAT_TO_COMPAT], 1u);
  EXPECT_EQ((*dp)->ReadStats()[NFR_STAT_NOT_IP], 0u);
  dp->reset();
  close(tun);
}

// Without privileges the error says so and how to fix it.
TEST_F(DatapathTest, UnprivilegedStartSaysRunAsRoot) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    std::string msg = "setuid failed";
    if (setgid(65534) == 0 && setuid(65534) == 0) {
      auto dp = Datapath::Start(config_);
      msg = dp.ok() ? "started" : std::string(dp.status().message());
    }
    if (write(pipefd[1], msg.data(), msg.size()) < 0) _exit(3);
    _exit(0);
  }
  close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof(buf))) > 0;) msg.append(buf, n);
  close(pipefd[0]);
  waitpid(child, nullptr, 0);
  std::cout << "[ unprivileged ] " << msg << "\n";
  EXPECT_TRUE(absl::StrContains(msg, "as root")) << msg;
  EXPECT_EQ(IngressProg(), 0u);
}

}  // namespace
}  // namespace nfr::test
