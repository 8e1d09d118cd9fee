#include "agent/core/core.h"

#include <stdlib.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>

#include "agent/config/config_defaults.h"
#include "agent/runtime/agent.h"
#include "agent/datapath/memory_verdict_cache.h"
#include "agent/runtime/verdict_engine.h"
#include "gtest/gtest.h"
#include "tests/unit/packet_builder.h"

namespace nfr {
namespace {

class DiscardingSender : public HeldVerdictSender {
 public:
  absl::Status SendVerdict(uint16_t, uint32_t, bool accept) override {
    accept ? ++accepted : ++dropped;
    return absl::OkStatus();
  }
  int accepted = 0, dropped = 0;
};

// The real Agent (not started) under a real Core on a temporary SQLite file.
class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nfr-core-XXXXXX";
    dir_ = mkdtemp(tmpl);
    config_.mutable_store()->set_db_path(dir_ + "/state.db");
    nfr::v1::Policy* p = config_.mutable_policy();
    p->set_default_verdict(nfr::v1::VERDICT_DROP);
    nfr::v1::Rule* web = p->add_rules();
    web->set_id("web");
    web->set_protocol(nfr::v1::PROTOCOL_TCP);
    web->add_dst_ports()->set_first(80);
    web->set_action(nfr::v1::ACTION_ACCEPT);
    nfr::v1::Rule* ask = p->add_rules();
    ask->set_id("ask");
    ask->set_action(nfr::v1::ACTION_ASK);
    ApplyDefaults(config_);
    Open();
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    agent_ = *Agent::Create(config_);
    agent_->engine()->SetCache(&cache_);
    agent_->engine()->SetSender(&sender_);
    agent_->engine()->NameInterface(7, "r-cli");
    auto c = Core::Open(agent_->control(), config_.store());
    ASSERT_TRUE(c.ok()) << c.status();
    core_ = *std::move(c);
    agent_->AddEventSink(core_->event_sink());
  }
  void Close() {
    if (core_) core_->Stop();
    core_.reset();
    if (agent_) {
      agent_->engine()->SetCache(nullptr);
      agent_->engine()->SetSender(nullptr);
    }
    agent_.reset();
  }
  // A TCP SYN from 10.77.0.2:sport to 10.77.1.2:dport on r-cli.
  QueueAction Syn(uint16_t sport, uint16_t dport) {
    packets_.push_back(testing::Ipv4({10, 77, 0, 2}, {10, 77, 1, 2}, 6,
                                     testing::TcpHeader(sport, dport, kTcpSyn)));
    QueuedPacket q;
    q.queue = 4200;
    q.id = next_id_++;
    q.in_ifindex = 7;
    q.payload = absl::MakeConstSpan(packets_.back());
    return agent_->engine()->OnPacket(q);
  }
  uint64_t PendingId() { return agent_->ListPending().at(0).id(); }
  std::vector<nfr::v1::Decision> Logged() {
    core_->Flush();
    nfr::v1::ListDecisionsRequest r;
    auto page = core_->decisions().List(r);
    EXPECT_TRUE(page.ok()) << page.status();
    return {page->decisions().begin(), page->decisions().end()};
  }

  std::string dir_;
  nfr::v1::AgentConfig config_;
  MemoryVerdictCache cache_;
  DiscardingSender sender_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<Core> core_;
  std::deque<std::vector<uint8_t>> packets_;
  uint32_t next_id_ = 1;
};

PolicyChange By(const std::string& who, std::optional<uint64_t> expected = std::nullopt) {
  PolicyChange c;
  c.author = who;
  c.expected_version = expected;
  return c;
}

TEST_F(CoreTest, FirstStartSeedsVersionOneAndRestartRestoresTheLatest) {
  EXPECT_EQ(core_->policy().Current().version(), 1u);
  nfr::v1::Rule r;
  r.set_id("ssh");
  r.set_protocol(nfr::v1::PROTOCOL_TCP);
  r.add_dst_ports()->set_first(22);
  r.set_action(nfr::v1::ACTION_DROP);
  auto v2 = core_->policy().AddRule(r, 0, By("alice", 1));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2u);
  EXPECT_EQ(v2->rules(0).id(), "ssh");
  Close();
  Open();
  EXPECT_EQ(core_->policy().Current().version(), 2u) << "the store wins over the config seed";
  EXPECT_EQ(agent_->GetPolicy().rules(0).id(), "ssh");
}

TEST_F(CoreTest, PolicyChangesAreGuardedAndChangeNothingOnError) {
  nfr::v1::Policy p = core_->policy().Current();
  auto stale = core_->policy().Apply(p, By("alice", 7));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("expected_version"), std::string::npos);
  nfr::v1::Rule dup = p.rules(0);
  EXPECT_EQ(core_->policy().AddRule(dup, std::nullopt, By("alice")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(core_->policy().RemoveRule("nope", By("alice")).status().code(),
            absl::StatusCode::kNotFound);
  nfr::v1::Rule bad;
  bad.set_id("bad id!");
  EXPECT_EQ(core_->policy().AddRule(bad, std::nullopt, By("alice")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core_->policy().Current().version(), 1u);
  auto removed = core_->policy().RemoveRule("web", By("alice", 1));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->rules_size(), 1);
  EXPECT_EQ(removed->version(), 2u);
}

TEST_F(CoreTest, PolicyDecisionsAreLoggedWithIdsAndTheRule) {
  EXPECT_EQ(Syn(40000, 80), QueueAction::kAccept);
  std::vector<nfr::v1::Decision> log = Logged();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_GT(log[0].id(), 0u);
  EXPECT_EQ(log[0].source(), nfr::v1::DECISION_SOURCE_POLICY);
  EXPECT_EQ(log[0].rule_id(), "web");
}

TEST_F(CoreTest, DecideReturnsTheLoggedRecordInOneCall) {
  EXPECT_EQ(Syn(40001, 9000), QueueAction::kHold);
  DecideCommand c;
  c.pending_id = PendingId();
  c.verdict = nfr::v1::VERDICT_ACCEPT;
  c.scope = nfr::v1::DECISION_SCOPE_FLOW;
  c.ttl_seconds = 60;
  c.decider = "uid:0";
  c.reason = "known";
  auto out = core_->Decide(c);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GT(out->decision.id(), 0u);
  EXPECT_EQ(out->decision.decider(), "uid:0");
  EXPECT_EQ(out->decision.ttl_seconds(), 60u);
  EXPECT_EQ(out->decision.rule_id(), "ask");
  EXPECT_FALSE(out->rule.has_value());
  EXPECT_EQ(sender_.accepted, 1);
  std::vector<nfr::v1::Decision> log = Logged();
  ASSERT_EQ(log.size(), 1u) << "logged once, by the core";
  EXPECT_EQ(log[0].id(), out->decision.id());
  EXPECT_EQ(core_->Decide(c).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoreTest, DecideWithRuleScopeAddsAUniqueRuleFirst) {
  EXPECT_EQ(Syn(40002, 9000), QueueAction::kHold);
  const uint64_t id = PendingId();
  nfr::v1::Rule taken;
  taken.set_id(absl::StrCat("decided-", id));
  taken.set_protocol(nfr::v1::PROTOCOL_UDP);  // does not decide the pending TCP connection
  taken.set_action(nfr::v1::ACTION_ACCEPT);
  ASSERT_TRUE(core_->policy().AddRule(taken, std::nullopt, By("alice")).ok());
  DecideCommand c;
  c.pending_id = id;
  c.verdict = nfr::v1::VERDICT_DROP;
  c.scope = nfr::v1::DECISION_SCOPE_RULE;
  c.decider = "bob";
  auto out = core_->Decide(c);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->rule.has_value());
  EXPECT_EQ(out->rule->id(), absl::StrCat("decided-", id, "-2"));
  EXPECT_EQ(out->decision.rule_id(), out->rule->id());
  EXPECT_EQ(out->policy_version, 3u);
  EXPECT_EQ(core_->policy().Current().rules(0).id(), out->rule->id());
  EXPECT_EQ(core_->policy().Current().rules(0).dst_prefixes(0), "10.77.1.2/32");
  EXPECT_EQ(sender_.dropped, 1);
}

TEST_F(CoreTest, DecideRefusesBadCommandsNamingTheField) {
  EXPECT_EQ(Syn(40003, 9000), QueueAction::kHold);
  DecideCommand c;
  c.pending_id = PendingId();
  c.verdict = nfr::v1::VERDICT_ACCEPT;
  auto field = [&](const DecideCommand& cmd) {
    absl::Status s = core_->Decide(cmd).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message().substr(0, s.message().find(':')));
  };
  DecideCommand bad = c;
  bad.pending_id = 0;
  EXPECT_EQ(field(bad), "pending_id");
  bad = c;
  bad.verdict = nfr::v1::VERDICT_UNSPECIFIED;
  EXPECT_EQ(field(bad), "verdict");
  bad = c;
  bad.ttl_seconds = 5;
  EXPECT_EQ(field(bad), "ttl_seconds");
  bad = c;
  bad.rule_id = "x";
  EXPECT_EQ(field(bad), "rule_id");
  bad = c;
  bad.reason.assign(kMaxReasonBytes + 1, 'x');
  EXPECT_EQ(field(bad), "reason");
  EXPECT_EQ(agent_->ListPending().size(), 1u) << "nothing changed";
}

}  // namespace
}  // namespace nfr
