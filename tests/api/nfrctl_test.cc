// nfrctl as a subprocess against the in-process server: output formats,
// exit codes, watch streams, decide scopes, policy round trip.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <regex>

#include "absl/strings/str_split.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

// `nfrctl status -o json` (pretty-printed) shows exactly one open watch stream.
bool OneWatcher(const std::string& json) {
  static const std::regex re(R"("watchers":\s*"1")");
  return std::regex_search(json, re);
}

class NfrctlTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
  }
  CommandResult Ctl(const std::string& args) {
    return RunCommand(Nfrctl() + " --target unix://" + dir_ + "/agent.sock " + args);
  }
};

TEST_F(NfrctlTest, HelpOnEveryVerbAndUsageErrors) {
  for (const char* v :
       {"", "status", "policy", "policy get", "policy apply", "policy add-rule", "policy rm-rule",
        "set add", "set rm", "set list", "set import", "pending list", "pending watch",
        "pending autodecide", "decide", "decisions list", "decisions watch"}) {
    CommandResult r = RunCommand(Nfrctl() + " " + v + " --help");
    EXPECT_EQ(r.exit_code, 0) << v << ": " << r.out;
    EXPECT_NE(r.out.find("usage"), std::string::npos) << v;
  }
  EXPECT_EQ(RunCommand(Nfrctl()).exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " frobnicate").exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " policy explode").exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " decide 1 maybe").exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " decide 1 accept --for 5m --rule").exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " pending list --verdict accept").exit_code, 1);
  EXPECT_EQ(RunCommand(Nfrctl() + " status -o yaml").exit_code, 1);
  CommandResult r = RunCommand(Nfrctl() + " --target unix://" + dir_ + "/nothing.sock status");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("is nfr-agent running"), std::string::npos) << r.out;
}

TEST_F(NfrctlTest, PolicyRoundTripAndExitCodes) {
  CommandResult r = Ctl("policy get -o json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"ask-all\""), std::string::npos) << r.out;
  const std::string file = dir_ + "/policy.json";
  std::ofstream(file) << R"({"default_verdict": "VERDICT_ACCEPT",
    "rules": [{"id": "web", "protocol": "PROTOCOL_TCP", "dst_prefixes": ["10.77.1.0/24"],
               "dst_ports": [{"first": 80}], "action": "ACTION_ACCEPT"}]})";
  r = Ctl("policy apply -f " + file + " --expected-version 1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("policy version 2"), std::string::npos) << r.out;
  r = Ctl("policy apply -f " + file + " --expected-version 1");
  EXPECT_EQ(r.exit_code, 6) << r.out;
  EXPECT_NE(r.out.find("FAILED_PRECONDITION"), std::string::npos);
  r =
      Ctl("policy add-rule --id ssh --action drop --protocol tcp --dport 22 --src 10.77.0.0/24 "
          "--position 0");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = Ctl("policy add-rule --id bad --action drop --dst 10.77.0.0/99");
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_NE(r.out.find("rule.dst_prefixes[0]"), std::string::npos) << r.out;
  r = Ctl("policy add-rule --id ssh --action drop");
  EXPECT_EQ(r.exit_code, 6) << r.out;
  r = Ctl("policy get");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("policy version 3"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("ssh"), r.out.find("web")) << r.out;
  r = Ctl("policy rm-rule nosuch");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  r = Ctl("policy rm-rule ssh");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::ofstream(file) << "{ not json";
  EXPECT_EQ(Ctl("policy apply -f " + file).exit_code, 5);
  EXPECT_EQ(control_->GetPolicy().version(), 4u);
}

TEST_F(NfrctlTest, SetAddRmListImport) {
  const std::string policy = dir_ + "/sets.json";
  std::ofstream(policy) << R"({"default_verdict": "VERDICT_ACCEPT",
    "sets": {"block": {"prefixes": ["10.77.9.0/24"], "comment": "bad hosts"},
             "alt": {"ports": [{"first": 8080}]}},
    "rules": [{"id": "blocklist", "dst_set": "block", "action": "ACTION_DROP"}]})";
  CommandResult r = Ctl("policy apply -f " + policy);
  ASSERT_EQ(r.exit_code, 0) << r.out;

  r = Ctl("set add block 10.77.8.1 2001:db8::/32 --expected-version 2");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("set block: 2 added (0 already there)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("policy version 3"), std::string::npos) << r.out;
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.8.1", 80)), TestAgent::Outcome::kDropped);
  r = Ctl("set add block 10.0.0.0/8 --expected-version 2");
  EXPECT_EQ(r.exit_code, 6) << r.out;
  r = Ctl("set rm block 10.77.8.1/32 -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"removed\":1"), std::string::npos) << r.out;
  r = Ctl("set add alt 8443 9000-9010");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("3 entries"), std::string::npos) << r.out;
  r = Ctl("set add nope 10.0.0.0/8");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_NE(r.out.find("set \"nope\" is not defined"), std::string::npos) << r.out;
  r = Ctl("set add block 10.0.0.300/8");
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_NE(r.out.find("add[0]"), std::string::npos) << r.out;

  r = Ctl("set list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("block"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bad hosts"), std::string::npos) << r.out;
  r = Ctl("set list -o json");
  EXPECT_NE(r.out.find(R"({"name":"alt","kind":"ports","size":3,)"), std::string::npos) << r.out;
  r = Ctl("set list alt");
  EXPECT_EQ(r.out, "8080\n8443\n9000-9010\n") << r.out;

  // Import: comments and blank lines; a bad line is named and nothing changes.
  const std::string good = dir_ + "/block.txt";
  std::ofstream(good) << "# blocklist\n10.1.0.0/16\n\n  192.0.2.1   # one host\n2001:db8::/32\n";
  const std::string bad = dir_ + "/bad.txt";
  std::ofstream(bad) << "10.2.0.0/16\n# ok so far\n10.3.0.1/16\n";
  const uint64_t before = control_->GetPolicy().version();
  r = Ctl("set import block " + bad);
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_NE(r.out.find(bad + ":3:"), std::string::npos) << r.out;
  EXPECT_EQ(control_->GetPolicy().version(), before);
  r = Ctl("set import block " + good + " --replace");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = Ctl("set list block");
  EXPECT_EQ(r.out, "2001:db8::/32\n10.1.0.0/16\n192.0.2.1/32\n") << r.out;
}

TEST_F(NfrctlTest, WatchListAndDecide) {
  uint64_t first = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &first);
  // Watch in the background: snapshot line, then two live events.
  auto watch = std::async(std::launch::async, [&] { return Ctl("pending watch --count 2"); });
  bool watching = false;
  for (int i = 0; i < 200 && !watching; ++i) {
    watching = OneWatcher(Ctl("status -o json").out);
    if (!watching) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(watching) << Ctl("status -o json").out;
  uint64_t second = 0;
  control_->Offer(MakeFlow("fd77::2", "fd77:1::2", 443), &second);
  CommandResult r = Ctl("pending list");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("[fd77:1::2]:443"), std::string::npos) << r.out;
  r = Ctl("decide " + std::to_string(first) + " accept --for 10m --reason 'known host'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("accept " + std::to_string(first) + " (flow 600s)"), std::string::npos)
      << r.out;
  CommandResult w = watch.get();
  EXPECT_EQ(w.exit_code, 0) << w.out;
  std::vector<std::string> lines = absl::StrSplit(w.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << w.out;
  EXPECT_EQ(lines[0].rfind("pending " + std::to_string(first) +
                               " tcp 10.77.0.2:40000 -> "
                               "10.77.1.2:80 dev r-cli ingress",
                           0),
            0u)
      << lines[0];
  EXPECT_EQ(lines[1], "snapshot 1 pending");
  EXPECT_EQ(lines[2].rfind("added " + std::to_string(second), 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind("resolved " + std::to_string(first) + " accept flow", 0), 0u)
      << lines[3];
  EXPECT_NE(lines[3].find("(known host)"), std::string::npos) << lines[3];

  r = Ctl("decide " + std::to_string(first) + " accept");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  r = Ctl("decide " + std::to_string(second) + " drop --rule --rule-id block-v6 -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"block-v6\""), std::string::npos) << r.out;
  EXPECT_EQ(control_->GetPolicy().rules(0).id(), "block-v6");
  core_->Flush();
  r = Ctl("decisions list --source controller -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 2u) << r.out;
  r = Ctl("decisions list --verdict drop --since 1h");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("block-v6"), std::string::npos) << r.out;
  EXPECT_EQ(Ctl("decisions list --prefix 10.77.0.0/40").exit_code, 5);
}

TEST_F(NfrctlTest, AutodecideIsAScriptedController) {
  uint64_t before = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &before);
  auto ctl = std::async(std::launch::async,
                        [&] { return Ctl("pending autodecide accept --for 1m --count 3"); });
  for (int i = 0; i < 200 && !control_->ListPending().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(control_->ListPending().empty()) << "snapshot entry decided";
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.3", 80));
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.4", 80));
  CommandResult r = ctl.get();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0].rfind("accept " + std::to_string(before) + " tcp", 0), 0u) << lines[0];
  EXPECT_TRUE(control_->ListPending().empty());
  EXPECT_EQ(control_->CachedVerdict(MakeFlow("10.77.0.2", "10.77.1.4", 80)),
            nfr::v1::VERDICT_ACCEPT);
}

TEST_F(NfrctlTest, PendingWatchOnATerminalRedrawsATable) {
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  // `script` gives nfrctl a pseudo-terminal.
  auto watch = std::async(std::launch::async, [&] {
    return RunCommand("script -qefc '" + Nfrctl() + " --target unix://" + dir_ +
                      "/agent.sock pending watch --count 1' /dev/null");
  });
  for (int i = 0; i < 200; ++i) {
    if (OneWatcher(Ctl("status -o json").out)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  control_->Offer(MakeFlow("10.77.0.3", "10.77.1.2", 443));
  CommandResult r = watch.get();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\033[H\033[2J"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 pending"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DECIDE WITHIN"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10.77.0.3:40000"), std::string::npos) << r.out;
}

TEST_F(NfrctlTest, DecisionsWatch) {
  auto watch = std::async(std::launch::async, [&] { return Ctl("decisions watch --count 1"); });
  for (int i = 0; i < 200; ++i) {
    if (OneWatcher(Ctl("status -o json").out)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  control_->ExpireDue(true);
  CommandResult w = watch.get();
  EXPECT_EQ(w.exit_code, 0) << w.out;
  // The real engine names the rule that asked: "(timeout rule ask-all)".
  EXPECT_NE(w.out.find("drop tcp 10.77.0.2:40000 -> 10.77.1.2:80 dev r-cli ingress (timeout"),
            std::string::npos)
      << w.out;
}

}  // namespace
}  // namespace nfr::test
