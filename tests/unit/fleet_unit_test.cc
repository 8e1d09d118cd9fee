// The fleet gateway's pure parts on real SQLite files: label selectors, the
// Prometheus text writer, the store's exactly-once decision table and the
// group-version bookkeeping of rollouts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "agent/metrics/prom_text.h"
#include "fleetd/fleet_store.h"
#include "fleetd/selector.h"

namespace nfr {
namespace {

TEST(Selector, ParsesMatchesAndCanonicalises) {
  absl::StatusOr<Selector> s = Selector::Parse(" tier=edge , site=berlin", "selector");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Canonical(), "site=berlin,tier=edge");
  google::protobuf::Map<std::string, std::string> labels;
  labels["site"] = "berlin";
  EXPECT_FALSE(s->Matches(labels));
  labels["tier"] = "edge";
  EXPECT_TRUE(s->Matches(labels));
  labels["site"] = "paris";
  EXPECT_FALSE(s->Matches(labels));
  absl::StatusOr<Selector> all = Selector::Parse("", "selector");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches(labels));
}

TEST(Selector, AndKeepsEveryPairOnce) {
  absl::StatusOr<Selector> a = Selector::Parse("site=a,tier=edge", "selector");
  absl::StatusOr<Selector> scope = Selector::Parse("site=a", "selector");
  absl::StatusOr<Selector> other = Selector::Parse("site=b", "selector");
  ASSERT_TRUE(a.ok() && scope.ok() && other.ok());
  EXPECT_EQ(a->And(*scope).Canonical(), "site=a,tier=edge");
  EXPECT_EQ(Selector().And(*other).Canonical(), "site=b");
  google::protobuf::Map<std::string, std::string> labels;
  labels["site"] = "a";
  labels["tier"] = "edge";
  EXPECT_FALSE(a->And(*other).Matches(labels));
}

TEST(Selector, RefusesPairsWithoutKeyOrEquals) {
  for (const char* bad : {"site", "=berlin", "site=berlin,tier"}) {
    absl::StatusOr<Selector> s = Selector::Parse(bad, "role_bindings[2].selector");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("role_bindings[2].selector"), std::string::npos);
  }
}

TEST(PromText, FamiliesSamplesAndEscaping) {
  PromText p;
  p.Family("nfr_x_total", "counter", "X.");
  p.Sample("nfr_x_total", 3, {{"a", "q\"b\\c\nd"}});
  p.Sample("nfr_x_total", 0.5);
  EXPECT_EQ(p.text(),
            "# HELP nfr_x_total X.\n# TYPE nfr_x_total counter\n"
            "nfr_x_total{a=\"q\\\"b\\\\c\\nd\"} 3\nnfr_x_total 0.5\n");
}

class FleetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fleet-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto s = FleetStore::Open((dir_ / "sub" / "fleetd.db").string());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static nfr::v1::Decision D(uint64_t id) {
    nfr::v1::Decision d;
    d.set_id(id);
    return d;
  }
  std::filesystem::path dir_;
  std::unique_ptr<FleetStore> store_;
};

TEST_F(FleetStoreTest, DecisionsAreStoredOncePerAgentAndId) {
  EXPECT_EQ(store_->MaxDecisionId("a"), 0u);
  absl::StatusOr<uint64_t> dup = store_->AddDecisions("a", {D(1), D(2), D(5)});
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup, 0u);
  dup = store_->AddDecisions("a", {D(5), D(6)});
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup, 1u);
  dup = store_->AddDecisions("b", {D(5)});
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup, 0u);
  EXPECT_EQ(store_->MaxDecisionId("a"), 6u);
  EXPECT_EQ(store_->MaxDecisionId("b"), 5u);
  absl::StatusOr<std::vector<nfr::v1::Decision>> after = store_->Decisions("a", 2, 10);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].id(), 5u);
  EXPECT_EQ((*after)[1].id(), 6u);
}

TEST_F(FleetStoreTest, RolloutsKeepTheGroupVersionPerSelector) {
  EXPECT_EQ(store_->GroupVersion("site=a"), 0u);
  nfr::v1::RolloutRecord rec;
  rec.set_selector("site=a");
  rec.set_group_version(1);
  nfr::v1::Policy p;
  absl::StatusOr<uint64_t> id = store_->RecordRollout(rec, p, {});
  ASSERT_TRUE(id.ok()) << id.status();
  rec.set_group_version(2);
  ASSERT_TRUE(store_->RecordRollout(rec, p, {}).ok());
  EXPECT_EQ(store_->GroupVersion("site=a"), 2u);
  EXPECT_EQ(store_->GroupVersion("site=b"), 0u);
  std::vector<nfr::v1::RolloutRecord> all = store_->Rollouts(10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_GT(all[0].rollout_id(), all[1].rollout_id());
}

nfr::v1::RolloutResponse Results(std::vector<std::pair<std::string, bool>> r) {
  nfr::v1::RolloutResponse out;
  for (const auto& [id, ok] : r) {
    nfr::v1::RolloutResult* x = out.add_results();
    x->set_agent_id(id);
    x->set_ok(ok);
  }
  return out;
}

TEST_F(FleetStoreTest, AgentsHoldTheGroupVersionTheyApplied) {
  nfr::v1::RolloutRecord rec;
  rec.set_selector("site=a");
  rec.set_group_version(1);
  nfr::v1::Policy p;
  p.set_flow_ttl_seconds(77);
  ASSERT_TRUE(store_->RecordRollout(rec, p, Results({{"x", true}, {"y", false}})).ok());
  rec.set_selector("");
  ASSERT_TRUE(store_->RecordRollout(rec, p, Results({{"x", true}})).ok());
  std::vector<GroupHead> heads = store_->GroupHeads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].selector, "");  // the newest rollout first
  EXPECT_GT(heads[0].rollout_id, heads[1].rollout_id);
  EXPECT_EQ(store_->AgentGroups("x"), (std::map<std::string, uint64_t>{{"", 1}, {"site=a", 1}}));
  EXPECT_TRUE(store_->AgentGroups("y").empty());
  // A catch-up records y without touching the group policy.
  rec.set_selector("site=a");
  ASSERT_TRUE(store_->RecordCatchUp(rec, Results({{"y", true}})).ok());
  EXPECT_EQ(store_->AgentGroups("y"), (std::map<std::string, uint64_t>{{"site=a", 1}}));
  EXPECT_EQ(store_->GroupVersion("site=a"), 1u);
  absl::StatusOr<nfr::v1::Policy> got = store_->GroupPolicy("site=a", 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->flow_ttl_seconds(), 77u);
  EXPECT_EQ(store_->GroupPolicy("site=a", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Rollouts(10).size(), 3u);
}

TEST_F(FleetStoreTest, AnOlderDatabaseIsReplayedIntoAgentGroups) {
  nfr::v1::RolloutRecord rec;
  rec.set_selector("site=a");
  rec.set_group_version(4);
  ASSERT_TRUE(store_->RecordRollout(rec, nfr::v1::Policy(), Results({{"x", true}})).ok());
  const std::string path = (dir_ / "sub" / "fleetd.db").string();
  store_.reset();
  {
    absl::StatusOr<std::unique_ptr<SqliteDb>> db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("DROP TABLE agent_groups; DELETE FROM group_rollout;").ok());
  }
  auto s = FleetStore::Open(path);
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = *std::move(s);
  EXPECT_EQ(store_->AgentGroups("x"), (std::map<std::string, uint64_t>{{"site=a", 4}}));
  ASSERT_EQ(store_->GroupHeads().size(), 1u);
  EXPECT_GT(store_->GroupHeads()[0].rollout_id, 0u);
}

}  // namespace
}  // namespace nfr
