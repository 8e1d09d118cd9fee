// DecisionService: paging, filters, live stream, persistence across restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

class DecisionsApiTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
    // Policy: accept 10.77.1.0/24, drop everything else (no asking).
    nfr::v1::Policy p;
    p.set_default_verdict(nfr::v1::VERDICT_DROP);
    auto* r = p.add_rules();
    r->set_id("lan");
    r->set_action(nfr::v1::ACTION_ACCEPT);
    r->add_dst_prefixes("10.77.1.0/24");
    nfr::v1::ApplyPolicyRequest req;
    *req.mutable_policy() = p;
    nfr::v1::ApplyPolicyResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(PolicyStub()->ApplyPolicy(&ctx, req, &resp).ok());
  }
  std::vector<nfr::v1::Decision> ListAll(nfr::v1::DecisionFilter filter, uint32_t page_size,
                                         int* pages) {
    std::vector<nfr::v1::Decision> out;
    auto stub = DecisionStub();
    nfr::v1::ListDecisionsRequest req;
    *req.mutable_filter() = filter;
    req.set_page_size(page_size);
    *pages = 0;
    for (;;) {
      grpc::ClientContext ctx;
      nfr::v1::ListDecisionsResponse resp;
      grpc::Status s = stub->ListDecisions(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      ++*pages;
      out.insert(out.end(), resp.decisions().begin(), resp.decisions().end());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return out;
  }
};

TEST_F(DecisionsApiTest, PagesNewestFirstWithFilters) {
  for (int i = 0; i < 25; ++i) {
    control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                             static_cast<uint32_t>(3000 + i)));  // accept
    control_->Offer(MakeFlow("fd77::2", "fd77:9::1", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                             static_cast<uint32_t>(3000 + i)));  // drop
  }
  core_->Flush();
  int pages = 0;
  std::vector<nfr::v1::Decision> all = ListAll({}, 7, &pages);
  ASSERT_EQ(all.size(), 50u);
  EXPECT_EQ(pages, 8);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i - 1].id(), all[i].id());
  EXPECT_EQ(all[0].flow().src_port(), 3024u);
  EXPECT_EQ(all[0].source(), nfr::v1::DECISION_SOURCE_POLICY);

  nfr::v1::DecisionFilter f;
  f.set_verdict(nfr::v1::VERDICT_ACCEPT);
  std::vector<nfr::v1::Decision> acc = ListAll(f, 10, &pages);
  EXPECT_EQ(acc.size(), 25u);
  for (const auto& d : acc) EXPECT_EQ(d.rule_id(), "lan");
  f.Clear();
  f.set_prefix("fd77:9::/32");
  EXPECT_EQ(ListAll(f, 100, &pages).size(), 25u);
  f.set_prefix("10.77.0.2");
  EXPECT_EQ(ListAll(f, 100, &pages).size(), 25u);
  f.set_prefix("10.78.0.0/16");
  EXPECT_EQ(ListAll(f, 100, &pages).size(), 0u);
  // Time range: everything is before "until = now + 1s", nothing since then.
  f.Clear();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  f.mutable_until()->set_seconds(now + 1);
  EXPECT_EQ(ListAll(f, 100, &pages).size(), 50u);
  f.Clear();
  f.mutable_since()->set_seconds(now + 1);
  EXPECT_EQ(ListAll(f, 100, &pages).size(), 0u);
  f.Clear();
  f.mutable_since()->set_seconds(all[10].time().seconds());
  f.mutable_since()->set_nanos(all[10].time().nanos());
  EXPECT_GE(ListAll(f, 100, &pages).size(), 11u);
}

TEST_F(DecisionsApiTest, BadListRequestsNameTheField) {
  auto stub = DecisionStub();
  struct Case {
    std::function<void(nfr::v1::ListDecisionsRequest&)> set;
    std::string field;
  } cases[] = {
      {[](auto& r) { r.set_page_size(5000); }, "page_size"},
      {[](auto& r) { r.set_page_token("garbage"); }, "page_token"},
      {[](auto& r) { r.mutable_filter()->set_prefix("300.1.1.1/8"); }, "filter.prefix"},
      {[](auto& r) { r.mutable_filter()->set_verdict(static_cast<nfr::v1::Verdict>(5)); },
       "filter.verdict"},
      {[](auto& r) { r.mutable_filter()->set_source(static_cast<nfr::v1::DecisionSource>(77)); },
       "filter.source"},
      {[](auto& r) { r.mutable_filter()->mutable_since()->set_nanos(-1); }, "filter.since"},
  };
  for (const Case& c : cases) {
    nfr::v1::ListDecisionsRequest req;
    c.set(req);
    grpc::ClientContext ctx;
    nfr::v1::ListDecisionsResponse resp;
    grpc::Status s = stub->ListDecisions(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos) << s.error_message();
  }
}

TEST_F(DecisionsApiTest, WatchStreamsNewDecisionsFiltered) {
  auto stub = DecisionStub();
  grpc::ClientContext ctx;
  nfr::v1::WatchDecisionsRequest req;
  req.mutable_filter()->set_verdict(nfr::v1::VERDICT_DROP);
  SetWatchDeadline(&ctx);
  auto reader = stub->WatchDecisions(&ctx, req);
  WaitForWatchers(1);
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80));  // accept: filtered out
  control_->Offer(MakeFlow("10.77.0.2", "10.77.7.7", 80));  // drop
  nfr::v1::DecisionEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_decision());
  EXPECT_EQ(e.decision().verdict(), nfr::v1::VERDICT_DROP);
  EXPECT_EQ(e.decision().flow().dst_addr(), "10.77.7.7");
  EXPECT_GT(e.decision().id(), 0u);
  core_->Flush();
  // The streamed id is the logged id.
  nfr::v1::ListDecisionsRequest lreq;
  lreq.mutable_filter()->set_verdict(nfr::v1::VERDICT_DROP);
  grpc::ClientContext lctx;
  nfr::v1::ListDecisionsResponse lresp;
  ASSERT_TRUE(stub->ListDecisions(&lctx, lreq, &lresp).ok());
  ASSERT_EQ(lresp.decisions_size(), 1);
  EXPECT_EQ(lresp.decisions(0).id(), e.decision().id());
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
}

TEST_F(DecisionsApiTest, DecisionsSurviveRestartAndIdsContinue) {
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80));
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.3", 80));
  StopServer();
  control_ = std::make_unique<TestAgent>();
  StartServer();
  int pages = 0;
  std::vector<nfr::v1::Decision> all = ListAll({}, 100, &pages);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].flow().dst_addr(), "10.77.1.3");
  EXPECT_EQ(control_->GetPolicy().rules(0).id(), "lan");  // policy restored too
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.4", 80));
  core_->Flush();
  all = ListAll({}, 100, &pages);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_GT(all[0].id(), all[1].id());
}

}  // namespace
}  // namespace nfr::test
