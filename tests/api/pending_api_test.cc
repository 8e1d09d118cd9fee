// ConnectionService: WatchPending snapshot + live events, filters, slow
// watchers, Decide with every scope, validation, and watcher latency.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <thread>

#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

using nfr::v1::PendingEvent;

class PendingApiTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
    stub_ = ConnStub();
  }
  grpc::Status Decide(uint64_t id, nfr::v1::Verdict v, nfr::v1::DecisionScope scope,
                      nfr::v1::DecideResponse* resp, uint32_t ttl = 0,
                      const std::string& reason = "") {
    grpc::ClientContext ctx;
    nfr::v1::DecideRequest req;
    req.set_pending_id(id);
    req.set_verdict(v);
    req.set_scope(scope);
    req.set_ttl_seconds(ttl);
    req.set_reason(reason);
    return stub_->Decide(&ctx, req, resp);
  }
  std::unique_ptr<nfr::v1::ConnectionService::Stub> stub_;
};

TEST_F(PendingApiTest, WatchSendsSnapshotThenLiveAddedResolvedExpired) {
  uint64_t a = 0, b = 0, c = 0;
  ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &a),
            TestAgent::Outcome::kPending);
  ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.3", "10.77.1.2", 443), &b),
            TestAgent::Outcome::kPending);

  grpc::ClientContext ctx;
  auto reader = stub_->WatchPending(&ctx, {});
  PendingEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_snapshot());
  EXPECT_EQ(e.snapshot().id(), a);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.snapshot().id(), b);
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_snapshot_done());
  EXPECT_EQ(e.snapshot_done().count(), 2u);

  ASSERT_EQ(control_->Offer(MakeFlow("fd77::2", "fd77:1::2", 22), &c),
            TestAgent::Outcome::kPending);
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_added());
  EXPECT_EQ(e.added().id(), c);
  EXPECT_EQ(e.added().flow().dst_addr(), "fd77:1::2");

  nfr::v1::DecideResponse resp;
  ASSERT_TRUE(Decide(a, nfr::v1::VERDICT_ACCEPT, nfr::v1::DECISION_SCOPE_ONCE, &resp).ok());
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_resolved()) << e.DebugString();
  EXPECT_EQ(e.resolved().pending().id(), a);
  EXPECT_EQ(e.resolved().decision().verdict(), nfr::v1::VERDICT_ACCEPT);
  EXPECT_EQ(e.resolved().decision().id(), resp.decision().id());
  EXPECT_NE(e.resolved().decision().decider().find("uid:0"), std::string::npos);

  control_->ExpireDue(/*force=*/true);
  std::vector<uint64_t> expired;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(reader->Read(&e));
    ASSERT_TRUE(e.has_expired()) << e.DebugString();
    EXPECT_EQ(e.expired().decision().source(), nfr::v1::DECISION_SOURCE_TIMEOUT);
    EXPECT_EQ(e.expired().decision().verdict(), nfr::v1::VERDICT_DROP);  // default verdict
    expired.push_back(e.expired().pending().id());
  }
  std::sort(expired.begin(), expired.end());
  EXPECT_EQ(expired, (std::vector<uint64_t>{b, c}));
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
}

TEST_F(PendingApiTest, FiltersApplyToListAndWatch) {
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80));
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 53, nfr::v1::PROTOCOL_UDP));
  control_->Offer(MakeFlow("fd77::2", "fd77:1::2", 80, nfr::v1::PROTOCOL_TCP, "other"));
  struct Case {
    std::string iface;
    nfr::v1::Protocol proto;
    std::string prefix;
    int want;
  } cases[] = {
      {"", nfr::v1::PROTOCOL_ANY, "", 3},          {"r-cli", nfr::v1::PROTOCOL_ANY, "", 2},
      {"", nfr::v1::PROTOCOL_UDP, "", 1},          {"", nfr::v1::PROTOCOL_ANY, "fd77::/16", 1},
      {"", nfr::v1::PROTOCOL_ANY, "10.77.1.2", 2}, {"", nfr::v1::PROTOCOL_TCP, "10.77.0.0/16", 1}};
  for (const Case& c : cases) {
    nfr::v1::ListPendingRequest req;
    req.mutable_filter()->set_interface(c.iface);
    req.mutable_filter()->set_protocol(c.proto);
    req.mutable_filter()->set_prefix(c.prefix);
    nfr::v1::ListPendingResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->ListPending(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.pending_size(), c.want) << c.iface << " " << c.proto << " " << c.prefix;

    grpc::ClientContext wctx;
    nfr::v1::WatchPendingRequest wreq;
    *wreq.mutable_filter() = req.filter();
    auto reader = stub_->WatchPending(&wctx, wreq);
    PendingEvent e;
    int n = 0;
    while (reader->Read(&e) && e.has_snapshot()) ++n;
    EXPECT_EQ(n, c.want);
    EXPECT_TRUE(e.has_snapshot_done());
    wctx.TryCancel();
    while (reader->Read(&e)) {
    }
  }
  // A live event outside the filter is not delivered; one inside is.
  grpc::ClientContext wctx;
  nfr::v1::WatchPendingRequest wreq;
  wreq.mutable_filter()->set_prefix("10.77.50.0/24");
  auto reader = stub_->WatchPending(&wctx, wreq);
  PendingEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_snapshot_done());
  control_->Offer(MakeFlow("10.77.0.9", "10.77.1.2", 80));
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.9", "10.77.50.1", 80), &id);
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_added());
  EXPECT_EQ(e.added().id(), id);
  wctx.TryCancel();
  while (reader->Read(&e)) {
  }
}

TEST_F(PendingApiTest, BadFiltersAreRefusedNamingTheField) {
  struct Case {
    std::function<void(nfr::v1::PendingFilter&)> set;
    std::string field;
  } cases[] = {
      {[](auto& f) { f.set_prefix("10.77.0.0/40"); }, "filter.prefix"},
      {[](auto& f) { f.set_prefix("not-an-ip"); }, "filter.prefix"},
      {[](auto& f) { f.set_protocol(static_cast<nfr::v1::Protocol>(99)); }, "filter.protocol"},
      {[](auto& f) { f.set_interface("a/b"); }, "filter.interface"},
  };
  for (const Case& c : cases) {
    nfr::v1::ListPendingRequest req;
    c.set(*req.mutable_filter());
    nfr::v1::ListPendingResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ListPending(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << s.error_message();

    grpc::ClientContext wctx;
    nfr::v1::WatchPendingRequest wreq;
    *wreq.mutable_filter() = req.filter();
    auto reader = stub_->WatchPending(&wctx, wreq);
    PendingEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::INVALID_ARGUMENT);
  }
}

TEST_F(PendingApiTest, SlowWatcherIsToldHowManyEventsItLost) {
  StopServer();
  ApiServerOptions small;
  small.watcher_queue = 64;
  StartServer(small);
  stub_ = ConnStub();
  grpc::ClientContext ctx;
  auto reader = stub_->WatchPending(&ctx, {});
  PendingEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_snapshot_done());
  // The watcher does not read while 20000 connections arrive; producers must
  // never wait for it.
  const int kEvents = 20000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kEvents; ++i) {
    control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                             static_cast<uint32_t>(1024 + i)));
  }
  const absl::Duration produce = absl::Now() - start;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  uint64_t added = 0, lost = 0, notices = 0;
  while (added + lost < kEvents && reader->Read(&e)) {
    if (e.has_added()) ++added;
    if (e.has_lost()) {
      lost += e.lost().count();
      ++notices;
    }
  }
  EXPECT_EQ(added + lost, static_cast<uint64_t>(kEvents));
  EXPECT_GT(lost, 0u);
  EXPECT_GE(notices, 1u);
  std::printf("slow watcher: %d events produced in %s, delivered %" PRIu64 ", lost %" PRIu64
              " (%" PRIu64 " notices)\n",
              kEvents, absl::FormatDuration(produce).c_str(), added, lost, notices);
  // Still live after the loss.
  // Still live after the loss: a new connection is delivered once the
  // watcher keeps up (retry if its event fell into a loss window).
  bool saw = false;
  for (int attempt = 0; attempt < 50 && !saw; ++attempt) {
    uint64_t id = 0;
    control_->Offer(MakeFlow("10.77.0.4", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                             static_cast<uint32_t>(60000 + attempt)),
                    &id);
    while (reader->Read(&e)) {
      if (e.has_added() && e.added().id() == id) {
        saw = true;
        break;
      }
      if (e.has_lost()) break;
    }
  }
  EXPECT_TRUE(saw);
  nfr::v1::AgentStatus st;
  grpc::ClientContext sctx;
  ASSERT_TRUE(AgentStub()->GetStatus(&sctx, {}, &st).ok());
  EXPECT_GE(st.counters().events_lost(), lost);
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
}

TEST_F(PendingApiTest, DecideOnceFlowAndRule) {
  const nfr::v1::Flow f1 = MakeFlow("10.77.0.2", "10.77.1.2", 80);
  uint64_t id = 0;
  // ONCE: nothing cached, the next packet asks again.
  control_->Offer(f1, &id);
  nfr::v1::DecideResponse resp;
  ASSERT_TRUE(
      Decide(id, nfr::v1::VERDICT_ACCEPT, nfr::v1::DECISION_SCOPE_ONCE, &resp, 0, "ok").ok());
  EXPECT_EQ(resp.decision().scope(), nfr::v1::DECISION_SCOPE_ONCE);
  EXPECT_EQ(resp.decision().reason(), "ok");
  EXPECT_GT(resp.decision().id(), 0u);
  // A TCP accept ONCE leaves a short grace entry, so SYN retransmissions queued
  // before the decision cannot open a second pending entry (issue 8).
  EXPECT_EQ(control_->CachedVerdict(f1), nfr::v1::VERDICT_ACCEPT);
  EXPECT_EQ(control_->Offer(f1), TestAgent::Outcome::kCached);
  // A drop ONCE forgets the flow: the next packet asks again.
  const nfr::v1::Flow f1b = MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                                     40001);
  control_->Offer(f1b, &id);
  ASSERT_TRUE(Decide(id, nfr::v1::VERDICT_DROP, nfr::v1::DECISION_SCOPE_ONCE, &resp).ok());
  EXPECT_FALSE(control_->CachedVerdict(f1b).has_value());
  EXPECT_EQ(control_->Offer(f1b, &id), TestAgent::Outcome::kPending);
  // FLOW with a TTL: cached.
  ASSERT_TRUE(Decide(id, nfr::v1::VERDICT_DROP, nfr::v1::DECISION_SCOPE_FLOW, &resp, 60).ok());
  EXPECT_EQ(resp.decision().ttl_seconds(), 60u);
  EXPECT_EQ(control_->CachedVerdict(f1b), nfr::v1::VERDICT_DROP);
  EXPECT_EQ(control_->Offer(f1b), TestAgent::Outcome::kCached);
  // RULE: a rule is added in front; the next connection from the same host
  // to the same service (new source port) is accepted without asking.
  const nfr::v1::Flow f2 = MakeFlow("10.77.0.2", "10.77.1.2", 8080);
  control_->Offer(f2, &id);
  core_->Flush();  // earlier decisions reached the hub's subscribers before the watch starts
  grpc::ClientContext wctx;
  SetWatchDeadline(&wctx);
  auto watch = DecisionStub()->WatchDecisions(&wctx, {});
  WaitForWatchers(1);
  ASSERT_TRUE(Decide(id, nfr::v1::VERDICT_ACCEPT, nfr::v1::DECISION_SCOPE_RULE, &resp).ok());
  nfr::v1::DecisionEvent streamed;
  ASSERT_TRUE(watch->Read(&streamed));
  EXPECT_EQ(streamed.decision().id(), resp.decision().id());
  EXPECT_EQ(streamed.decision().rule_id(), resp.rule().id());
  wctx.TryCancel();
  while (watch->Read(&streamed)) {
  }
  EXPECT_EQ(resp.policy_version(), 2u);
  EXPECT_EQ(resp.rule().id(), "decided-" + std::to_string(id));
  EXPECT_EQ(resp.rule().dst_prefixes(0), "10.77.1.2/32");
  EXPECT_EQ(resp.rule().dst_ports(0).first(), 8080u);
  EXPECT_EQ(resp.decision().rule_id(), resp.rule().id());
  nfr::v1::Policy p = control_->GetPolicy();
  EXPECT_EQ(p.version(), 2u);
  EXPECT_EQ(p.rules(0).id(), resp.rule().id());
  EXPECT_EQ(control_->Offer(
                MakeFlow("10.77.0.2", "10.77.1.2", 8080, nfr::v1::PROTOCOL_TCP, "r-cli", 50001)),
            TestAgent::Outcome::kAccepted);
  // Other ports still ask.
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 8081)),
            TestAgent::Outcome::kPending);
  // The decisions are in the log, on disk, with the decider.
  grpc::ClientContext lctx;
  nfr::v1::ListDecisionsRequest lreq;
  lreq.mutable_filter()->set_source(nfr::v1::DECISION_SOURCE_CONTROLLER);
  nfr::v1::ListDecisionsResponse lresp;
  ASSERT_TRUE(DecisionStub()->ListDecisions(&lctx, lreq, &lresp).ok());
  ASSERT_EQ(lresp.decisions_size(), 4);  // ONCE accept, ONCE drop, FLOW, RULE
  EXPECT_EQ(lresp.decisions(0).scope(), nfr::v1::DECISION_SCOPE_RULE);
  EXPECT_EQ(lresp.decisions(3).reason(), "ok");
  EXPECT_NE(lresp.decisions(0).decider().find("uid:0"), std::string::npos);
}

TEST_F(PendingApiTest, BadDecideRequestsChangeNothing) {
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  nfr::v1::DecideResponse resp;
  struct Case {
    uint64_t id;
    int verdict;
    int scope;
    uint32_t ttl;
    std::string reason;
    grpc::StatusCode code;
    std::string field;
  } cases[] = {
      {id + 100, nfr::v1::VERDICT_ACCEPT, 1, 0, "", grpc::NOT_FOUND, "pending_id"},
      {0, nfr::v1::VERDICT_ACCEPT, 1, 0, "", grpc::INVALID_ARGUMENT, "pending_id"},
      {id, 0, 1, 0, "", grpc::INVALID_ARGUMENT, "verdict"},
      {id, 7, 1, 0, "", grpc::INVALID_ARGUMENT, "verdict"},
      {id, nfr::v1::VERDICT_DROP, 9, 0, "", grpc::INVALID_ARGUMENT, "scope"},
      {id, nfr::v1::VERDICT_DROP, 1, 30, "", grpc::INVALID_ARGUMENT, "ttl_seconds"},
      {id, nfr::v1::VERDICT_DROP, 2, 99999999, "", grpc::INVALID_ARGUMENT, "ttl_seconds"},
      {id, nfr::v1::VERDICT_DROP, 1, 0, std::string(600, 'r'), grpc::INVALID_ARGUMENT, "reason"},
  };
  for (const Case& c : cases) {
    grpc::Status s = Decide(c.id, static_cast<nfr::v1::Verdict>(c.verdict),
                            static_cast<nfr::v1::DecisionScope>(c.scope), &resp, c.ttl, c.reason);
    EXPECT_EQ(s.error_code(), c.code) << c.field << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(control_->ListPending().size(), 1u);
  EXPECT_EQ(control_->GetPolicy().version(), 1u);
  core_->Flush();
  grpc::ClientContext lctx;
  nfr::v1::ListDecisionsResponse lresp;
  ASSERT_TRUE(DecisionStub()->ListDecisions(&lctx, {}, &lresp).ok());
  EXPECT_EQ(lresp.decisions_size(), 0);
}

TEST_F(PendingApiTest, PendingToWatcherLatency) {
  grpc::ClientContext ctx;
  auto reader = stub_->WatchPending(&ctx, {});
  PendingEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_snapshot_done());
  std::vector<double> us, decide_us;
  const int kRounds = 2000;
  for (int i = 0; i < kRounds; ++i) {
    uint64_t id = 0;
    control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                             static_cast<uint32_t>(2000 + i)),
                    &id);
    do {
      ASSERT_TRUE(reader->Read(&e));
    } while (e.has_resolved());
    ASSERT_TRUE(e.has_added()) << e.DebugString();
    const absl::Time seen = absl::FromUnixSeconds(e.added().first_seen().seconds()) +
                            absl::Nanoseconds(e.added().first_seen().nanos());
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - seen));
    if (i % 10 == 0) {  // Decide round trip, including the fsync of the log entry
      nfr::v1::DecideResponse resp;
      const absl::Time t0 = absl::Now();
      ASSERT_TRUE(Decide(id, nfr::v1::VERDICT_ACCEPT, nfr::v1::DECISION_SCOPE_ONCE, &resp).ok());
      decide_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    }
  }
  std::sort(decide_us.begin(), decide_us.end());
  std::printf("Decide round trip (durable) over %zu calls: p50 %.0f us, p99 %.0f us\n",
              decide_us.size(), decide_us[decide_us.size() / 2],
              decide_us[decide_us.size() * 99 / 100]);
  std::sort(us.begin(), us.end());
  const double p50 = us[us.size() / 2], p99 = us[us.size() * 99 / 100];
  std::printf("pending -> watcher latency over %d events: p50 %.0f us, p99 %.0f us, max %.0f us\n",
              kRounds, p50, p99, us.back());
  RecordProperty("latency_p50_us", static_cast<int>(p50));
  RecordProperty("latency_p99_us", static_cast<int>(p99));
  EXPECT_LT(p50, 5000 * TimeScale());  // generous: 2 shared cores under parallel builds
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
}

}  // namespace
}  // namespace nfr::test
