// The compat-mode netfilter rule against real iptables-nft / iptables-legacy / nft binaries in a
// throwaway network namespace.
#include "agent/datapath/compat_rule.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/bpf/netns.h"

namespace nfr::test {
namespace {

using datapath::CompatRule;
using datapath::CompatRuleSpec;

class CompatRuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (netns, iptables)";
    std::string err;
    netns_ = ScopedNetns::Enter(&err);
    ASSERT_NE(netns_, nullptr) << err;
  }
  void TearDown() override { netns_.reset(); }

  static std::string Rules(const std::string& bin) {
    std::string out;
    Cmd({bin, "-w", "5", "-t", "mangle", "-S", "PREROUTING"}, &out);
    return out;
  }
  static std::string V6(const std::string& flavour) {
    return "ip6" + flavour.substr(2);  // iptables-nft -> ip6tables-nft
  }

  std::unique_ptr<ScopedNetns> netns_;
};

TEST_F(CompatRuleTest, EachIptablesFlavourInstallsBothFamiliesAndRemoves) {
  std::vector<std::string> flavours = datapath::IptablesFlavours();
  ASSERT_FALSE(flavours.empty()) << "no iptables installed";
  for (const std::string& f : flavours) {
    auto rule = CompatRule::InstallIptables({0x01000000, 4200, 1}, f);
    std::cout << "[ compat ] " << f << ": " << (rule.ok() ? "works" : rule.status().ToString())
              << "\n";
    ASSERT_TRUE(rule.ok()) << rule.status();
    EXPECT_EQ((*rule)->backend(), f);
    for (const std::string& bin : {f, V6(f)}) {
      std::string r = Rules(bin);
      EXPECT_TRUE(absl::StrContains(r, "--mark 0x1000000/0x1000000")) << bin << ": " << r;
      EXPECT_TRUE(absl::StrContains(r, "--comment nfr-agent")) << r;
      EXPECT_TRUE(absl::StrContains(r, "--queue-num 4200 --queue-bypass")) << r;
    }
    EXPECT_TRUE((*rule)->Remove().ok());
    for (const std::string& bin : {f, V6(f)}) {
      EXPECT_FALSE(absl::StrContains(Rules(bin), "nfr-agent")) << bin;
    }
  }
}

TEST_F(CompatRuleTest, SeveralQueuesUseQueueBalance) {
  auto rule = CompatRule::Install({0x10, 4200, 4}, nfr::v1::COMPAT_BACKEND_IPTABLES);
  ASSERT_TRUE(rule.ok()) << rule.status();
  std::string r = Rules((*rule)->backend());
  EXPECT_TRUE(absl::StrContains(r, "--mark 0x10/0x10")) << r;
  EXPECT_TRUE(absl::StrContains(r, "--queue-balance 4200:4203")) << r;
}

TEST_F(CompatRuleTest, AutoFallsBackFromNftablesWhenNftQueueIsMissing) {
  auto nft = CompatRule::Install({0x01000000, 4200, 1}, nfr::v1::COMPAT_BACKEND_NFTABLES);
  bool has_nft_queue = nft.ok();
  std::cout << "[ compat ] nftables queue: "
            << (has_nft_queue ? "works" : std::string(nft.status().message())) << "\n";
  if (!has_nft_queue) {
    EXPECT_EQ(nft.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(nft.status().message(), "nftables:")) << nft.status();
    std::string out;
    EXPECT_NE(Cmd({"nft", "list", "table", "inet", "nfr_agent"}, &out), 0)
        << "a failed nft attempt must not leave its table behind";
  }
  nft = absl::UnknownError("released");
  auto rule = CompatRule::Install({0x01000000, 4200, 1}, nfr::v1::COMPAT_BACKEND_AUTO);
  ASSERT_TRUE(rule.ok()) << rule.status();
  std::cout << "[ compat ] auto picked " << (*rule)->backend() << "\n";
  if (!has_nft_queue) {
    EXPECT_TRUE(absl::StartsWith((*rule)->backend(), "iptables"));
  }
}

TEST_F(CompatRuleTest, RemoveStaleFindsRulesOfAnyFlavour) {
  std::vector<std::unique_ptr<CompatRule>> leaked;
  for (const std::string& f : datapath::IptablesFlavours()) {
    auto rule = CompatRule::InstallIptables({0x01000000, 4200, 1}, f);
    ASSERT_TRUE(rule.ok()) << rule.status();
    leaked.push_back(std::move(*rule));
  }
  EXPECT_EQ(datapath::RemoveStaleCompatRules(), static_cast<int>(2 * leaked.size()));
  EXPECT_EQ(datapath::RemoveStaleCompatRules(), 0);
  for (auto& r : leaked) EXPECT_FALSE(r->Remove().ok()) << "already gone";
}

// Looking for stale rules must not instantiate the legacy mangle tables: their hooks would cost
// every forwarded packet three walks of an empty table.
TEST_F(CompatRuleTest, RemoveStaleLeavesNoLegacyTablesBehind) {
  auto tables = [](const char* path) {
    std::string out;
    Cmd({"cat", path}, &out);
    return out;
  };
  EXPECT_EQ(datapath::RemoveStaleCompatRules(), 0);
  EXPECT_EQ(tables("/proc/net/ip_tables_names").find("mangle"), std::string::npos);
  EXPECT_EQ(tables("/proc/net/ip6_tables_names").find("mangle"), std::string::npos);
}

}  // namespace
}  // namespace nfr::test
