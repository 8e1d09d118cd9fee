// agent/store against real SQLite files: durability, retention, schema.
#include "agent/store/store.h"

#include <gtest/gtest.h>

#include <cinttypes>

#include "agent/config/config_defaults.h"
#include "agent/store/sqlite_db.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    nfr::v1::AgentConfig c;
    c.mutable_store()->set_db_path(dir_ + "/sub/dir/state.db");
    ApplyDefaults(c);
    config_ = c.store();
  }
  void TearDown() override { Shell("rm -rf " + dir_); }
  nfr::v1::Decision D(const std::string& dst, nfr::v1::Verdict v, absl::Time t = absl::Now()) {
    nfr::v1::Decision d;
    *d.mutable_flow() = MakeFlow("10.77.0.2", dst, 80);
    d.set_verdict(v);
    d.set_source(nfr::v1::DECISION_SOURCE_POLICY);
    d.mutable_time()->set_seconds(absl::ToUnixSeconds(t));
    return d;
  }
  std::string dir_;
  nfr::v1::StoreConfig config_;
};

TEST_F(StoreTest, PolicyVersionsPersist) {
  {
    auto s = Store::Open(config_);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_FALSE((*s)->LatestPolicy()->has_value());
    nfr::v1::Policy p;
    p.set_version(3);
    ASSERT_TRUE((*s)->SavePolicy(p, "me", "c").ok());
    p.set_version(4);
    p.set_flow_ttl_seconds(9);
    ASSERT_TRUE((*s)->SavePolicy(p, "me", "c").ok());
    EXPECT_EQ((*s)->SavePolicy(p, "me", "c").code(), absl::StatusCode::kAlreadyExists);
  }
  auto s = Store::Open(config_);
  ASSERT_TRUE(s.ok());
  auto latest = (*s)->LatestPolicy();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((**latest).version(), 4u);
  EXPECT_EQ((**latest).flow_ttl_seconds(), 9u);
}

TEST_F(StoreTest, RetentionByCountAndAge) {
  config_.set_max_decisions(100);
  config_.set_max_decision_age_days(1);
  auto s = Store::Open(config_);
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 10; ++i) {
    nfr::v1::Decision old = D("10.77.1.1", nfr::v1::VERDICT_DROP, absl::Now() - absl::Hours(48));
    ASSERT_TRUE((*s)->AppendDecision(old).ok());
  }
  for (int i = 0; i < 250; ++i) (*s)->EnqueueDecision(D("10.77.1.2", nfr::v1::VERDICT_ACCEPT));
  (*s)->Flush();
  ASSERT_TRUE((*s)->Prune().ok());
  DecisionQuery q;
  q.limit = 1000;
  auto page = (*s)->ListDecisions(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->decisions.size(), 100u);
  for (const auto& d : page->decisions) EXPECT_EQ(d.flow().dst_addr(), "10.77.1.2");
  EXPECT_EQ(page->decisions.front().id(), 260u);
  EXPECT_EQ((*s)->stats().decisions_logged, 260u);
}

// Policy history by size and count (issue 12: a 1M-prefix set makes each version tens of MiB).
TEST_F(StoreTest, PolicyHistoryBoundedByBytesAndCountKeepingTheCurrent) {
  config_.set_max_policy_versions(10);
  config_.set_max_policy_history_mib(1);
  auto s = Store::Open(config_);
  ASSERT_TRUE(s.ok()) << s.status();
  auto db = SqliteDb::Open(config_.db_path());
  ASSERT_TRUE(db.ok());
  auto kept = [&] { return (*db)->QueryInt("SELECT COUNT(*) FROM policy_versions", -1); };
  auto oldest = [&] { return (*db)->QueryInt("SELECT MIN(version) FROM policy_versions", -1); };
  auto bytes = [&] {
    return (*db)->QueryInt("SELECT SUM(length(policy)) FROM policy_versions", -1);
  };
  auto save = [&](uint64_t version, size_t filler) {
    nfr::v1::Policy p;
    p.set_version(version);
    (*p.mutable_sets())["big"].set_comment(std::string(filler, 'x'));
    ASSERT_TRUE((*s)->SavePolicy(p, "me", "c").ok());
  };
  // 300 KiB each: three fit in 1 MiB, a fourth would not.
  for (uint64_t v = 1; v <= 8; ++v) save(v, 300 << 10);
  EXPECT_EQ(kept(), 3);
  EXPECT_EQ(oldest(), 6);
  EXPECT_LE(bytes(), 1 << 20);
  // Small ones: the count bound.
  for (uint64_t v = 9; v <= 40; ++v) save(v, 10);
  EXPECT_EQ(kept(), 10);
  EXPECT_EQ(oldest(), 31);
  // One version larger than the whole bound: it is the current one, so it stays, alone.
  save(41, 2 << 20);
  EXPECT_EQ(kept(), 1);
  EXPECT_EQ(oldest(), 41);
  s->reset();
  // Reopened with the defaults (1000 versions, 256 MiB): nothing more goes, and the agent
  // restarts into the current version.
  config_.clear_max_policy_versions();
  config_.clear_max_policy_history_mib();
  s = Store::Open(config_);
  ASSERT_TRUE(s.ok()) << s.status();
  auto latest = (*s)->LatestPolicy();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((**latest).version(), 41u);
  EXPECT_EQ(kept(), 1);
  // A lower bound in the config applies on open.
  for (uint64_t v = 42; v <= 50; ++v) save(v, 10);
  s->reset();
  config_.set_max_policy_versions(4);
  s = Store::Open(config_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(kept(), 4);
  EXPECT_EQ(oldest(), 47);
}

TEST_F(StoreTest, AsyncWriterNeverBlocksAndCountsOverflow) {
  auto s = Store::Open(config_);
  ASSERT_TRUE(s.ok());
  const absl::Time start = absl::Now();
  int accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    accepted += (*s)->EnqueueDecision(D("10.77.1.2", nfr::v1::VERDICT_ACCEPT));
  }
  const absl::Duration took = absl::Now() - start;
  (*s)->Flush();
  const StoreStats st = (*s)->stats();
  EXPECT_EQ(st.decisions_logged + st.decision_log_overflow, 200000u);
  EXPECT_EQ(st.decisions_logged, static_cast<uint64_t>(accepted));
  std::printf("async log: 200000 enqueued in %s (%.2f us each), %" PRIu64 " written, %" PRIu64
              " overflow\n",
              absl::FormatDuration(took).c_str(), absl::ToDoubleMicroseconds(took) / 200000,
              st.decisions_logged, st.decision_log_overflow);
}

TEST_F(StoreTest, RefusesDatabaseFromANewerAgent) {
  {
    auto s = Store::Open(config_);
    ASSERT_TRUE(s.ok());
  }
  {
    auto db = SqliteDb::Open(config_.db_path());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 99").ok());
  }
  auto s = Store::Open(config_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("schema version 99"), std::string::npos);
}

TEST_F(StoreTest, WalModeAndFullSync) {
  auto s = Store::Open(config_);
  ASSERT_TRUE(s.ok());
  auto db = SqliteDb::Open(config_.db_path());
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Text(0), "wal");
}

}  // namespace
}  // namespace nfr::test
