// FlowService over the real Agent's verdict engine (in-memory flow cache):
// list with filters and paging, delete and deny with their decision-log
// entries and events, roles, validation, and nfrctl flows.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <set>

#include "agent/util/proto_time.h"
#include "nfr/v1/flow_service.grpc.pb.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

using nfr::v1::FlowEntry;

class FlowsApiTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
    ApplyTestPolicy();
    stub_ = nfr::v1::FlowService::NewStub(UnixChannel());
  }
  // web: accept TCP 80 to 10.77.1.0/24; dns: accept UDP 53; block: drop TCP 23; others ask.
  void ApplyTestPolicy() {
    nfr::v1::Policy p;
    p.set_default_verdict(nfr::v1::VERDICT_DROP);
    auto rule = [&](const std::string& id, nfr::v1::Protocol proto, uint32_t port,
                    nfr::v1::Action action) {
      nfr::v1::Rule* r = p.add_rules();
      r->set_id(id);
      r->set_protocol(proto);
      r->add_dst_prefixes("10.77.1.0/24");
      nfr::v1::PortRange* pr = r->add_dst_ports();
      pr->set_first(port);
      pr->set_last(port);
      r->set_action(action);
    };
    rule("web", nfr::v1::PROTOCOL_TCP, 80, nfr::v1::ACTION_ACCEPT);
    rule("dns", nfr::v1::PROTOCOL_UDP, 53, nfr::v1::ACTION_ACCEPT);
    rule("block", nfr::v1::PROTOCOL_TCP, 23, nfr::v1::ACTION_DROP);
    p.add_rules()->set_id("ask-all");
    p.mutable_rules(3)->set_action(nfr::v1::ACTION_ASK);
    nfr::v1::ApplyPolicyRequest req;
    *req.mutable_policy() = p;
    nfr::v1::ApplyPolicyResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = PolicyStub()->ApplyPolicy(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    version_ = resp.policy().version();
  }
  std::vector<FlowEntry> List(const nfr::v1::FlowEntryFilter& filter, uint32_t page_size = 0,
                              int* pages = nullptr) {
    std::vector<FlowEntry> out;
    nfr::v1::ListFlowsRequest req;
    *req.mutable_filter() = filter;
    req.set_page_size(page_size);
    int n = 0;
    for (;;) {
      grpc::ClientContext ctx;
      nfr::v1::ListFlowsResponse resp;
      grpc::Status s = stub_->ListFlows(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      ++n;
      out.insert(out.end(), resp.flows().begin(), resp.flows().end());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    if (pages != nullptr) *pages = n;
    return out;
  }
  grpc::Status Change(bool deny, const nfr::v1::FlowEntryFilter& filter,
                      nfr::v1::ChangeFlowsResponse* resp, uint32_t limit = 0,
                      const std::string& reason = "") {
    nfr::v1::ChangeFlowsRequest req;
    *req.mutable_filter() = filter;
    req.set_limit(limit);
    req.set_reason(reason);
    grpc::ClientContext ctx;
    return deny ? stub_->DenyFlows(&ctx, req, resp) : stub_->DeleteFlows(&ctx, req, resp);
  }
  std::vector<nfr::v1::Decision> OperatorDecisions() {
    nfr::v1::ListDecisionsRequest req;
    req.mutable_filter()->set_source(nfr::v1::DECISION_SOURCE_OPERATOR);
    req.set_page_size(1000);
    grpc::ClientContext ctx;
    nfr::v1::ListDecisionsResponse resp;
    EXPECT_TRUE(DecisionStub()->ListDecisions(&ctx, req, &resp).ok());
    return {resp.decisions().begin(), resp.decisions().end()};
  }
  // Three policy flows, one controller flow, one timed-out flow.
  void Populate() {
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80)),
              TestAgent::Outcome::kAccepted);
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.3", "10.77.1.2", 53, nfr::v1::PROTOCOL_UDP)),
              TestAgent::Outcome::kAccepted);
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 23)),
              TestAgent::Outcome::kDropped);
    uint64_t id = 0;
    ASSERT_EQ(control_->Offer(
                  MakeFlow("10.77.0.4", "10.77.1.9", 8080, nfr::v1::PROTOCOL_TCP, "r-lan"), &id),
              TestAgent::Outcome::kPending);
    nfr::v1::DecideRequest d;
    d.set_pending_id(id);
    d.set_verdict(nfr::v1::VERDICT_ACCEPT);
    d.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
    d.set_ttl_seconds(600);
    nfr::v1::DecideResponse dr;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ConnStub()->Decide(&ctx, d, &dr).ok());
    controller_decision_ = dr.decision().id();
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.5", "10.77.1.9", 9999)),
              TestAgent::Outcome::kPending);
    control_->ExpireDue(/*force=*/true);
  }

  std::unique_ptr<nfr::v1::FlowService::Stub> stub_;
  uint64_t version_ = 0;
  uint64_t controller_decision_ = 0;
};

TEST_F(FlowsApiTest, ListShowsEveryOriginWithItsDetails) {
  Populate();
  const std::vector<FlowEntry> all = List({});
  // web, dns + its reply entry, block, controller 8080, default-dropped 9999.
  ASSERT_EQ(all.size(), 6u);
  int policy = 0, reply = 0;
  for (const FlowEntry& e : all) {
    SCOPED_TRACE(e.DebugString());
    if (e.reply()) {
      ++reply;
      EXPECT_EQ(e.flow().src_port(), 53u);  // the reverse of the UDP flow
      EXPECT_EQ(e.flow().direction(), nfr::v1::DIRECTION_EGRESS);
      continue;
    }
    switch (e.flow().dst_port()) {
      case 80:
      case 53:
      case 23:
        ++policy;
        EXPECT_EQ(e.origin(), nfr::v1::FLOW_ORIGIN_POLICY);
        EXPECT_EQ(e.policy_version(), version_);
        EXPECT_EQ(e.rule_id(), e.flow().dst_port() == 80   ? "web"
                               : e.flow().dst_port() == 53 ? "dns"
                                                           : "block");
        EXPECT_EQ(e.verdict(),
                  e.flow().dst_port() == 23 ? nfr::v1::VERDICT_DROP : nfr::v1::VERDICT_ACCEPT);
        EXPECT_EQ(e.flow().interface(), "r-cli");
        break;
      case 8080: {
        EXPECT_EQ(e.origin(), nfr::v1::FLOW_ORIGIN_CONTROLLER);
        EXPECT_EQ(e.decision_id(), controller_decision_);
        EXPECT_EQ(e.flow().interface(), "r-lan");
        ASSERT_TRUE(e.has_expires());
        const absl::Duration left = FromProtoTime(e.expires()) - absl::Now();
        EXPECT_GT(left, absl::Seconds(590));
        EXPECT_LE(left, absl::Seconds(600));
        break;
      }
      case 9999:
        EXPECT_EQ(e.origin(), nfr::v1::FLOW_ORIGIN_DEFAULT);
        EXPECT_EQ(e.verdict(), nfr::v1::VERDICT_DROP);
        EXPECT_EQ(e.policy_version(), version_);
        break;
      default:
        ADD_FAILURE() << "unexpected flow";
    }
  }
  EXPECT_EQ(policy, 3);
  EXPECT_EQ(reply, 1);
}

TEST_F(FlowsApiTest, FiltersCombine) {
  Populate();
  nfr::v1::FlowEntryFilter f;
  f.set_verdict(nfr::v1::VERDICT_DROP);
  EXPECT_EQ(List(f).size(), 2u);  // block, timeout
  f.set_origin(nfr::v1::FLOW_ORIGIN_DEFAULT);
  ASSERT_EQ(List(f).size(), 1u);
  EXPECT_EQ(List(f)[0].flow().dst_port(), 9999u);
  f.Clear();
  f.set_interface("r-lan");
  ASSERT_EQ(List(f).size(), 1u);
  EXPECT_EQ(List(f)[0].origin(), nfr::v1::FLOW_ORIGIN_CONTROLLER);
  f.Clear();
  f.set_protocol(nfr::v1::PROTOCOL_UDP);
  EXPECT_EQ(List(f).size(), 2u);  // the flow and its reply entry
  f.Clear();
  f.set_prefix("10.77.0.2/32");
  EXPECT_EQ(List(f).size(), 2u);  // web, block
  f.set_origin(nfr::v1::FLOW_ORIGIN_OPERATOR);
  EXPECT_TRUE(List(f).empty());
  // IPv6 prefixes match IPv6 entries only.
  ASSERT_EQ(control_->Offer(MakeFlow("fd77::2", "fd77:1::2", 80)), TestAgent::Outcome::kPending);
  control_->ExpireDue(/*force=*/true);
  f.Clear();
  f.set_prefix("fd77:1::/64");
  ASSERT_EQ(List(f).size(), 1u);
  EXPECT_EQ(List(f)[0].flow().src_addr(), "fd77::2");
  f.set_prefix("10.0.0.0/8");
  EXPECT_EQ(List(f).size(), 6u);
  // An interface filter in a change, with a limit.
  f.Clear();
  f.set_interface("r-cli");
  nfr::v1::ChangeFlowsResponse resp;
  ASSERT_TRUE(Change(/*deny=*/true, f, &resp, 1).ok());
  EXPECT_EQ(resp.changed(), 1u);
  EXPECT_EQ(resp.matched(), 3u);  // web, dns, its reply (block, fd77 and 9999 are dropped)
}

TEST_F(FlowsApiTest, PagesAreBoundedAndCoverEveryEntryOnce) {
  for (uint32_t i = 0; i < 250; ++i) {
    ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80, nfr::v1::PROTOCOL_TCP, "r-cli",
                                       20000 + i)),
              TestAgent::Outcome::kAccepted);
  }
  int pages = 0;
  std::vector<FlowEntry> all = List({}, 100, &pages);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 250u);
  std::set<uint32_t> ports;
  for (const FlowEntry& e : all) ports.insert(e.flow().src_port());
  EXPECT_EQ(ports.size(), 250u);
  // The default page is 100; page_size over 1000 and foreign tokens are refused.
  EXPECT_EQ(List({}, 0, &pages).size(), 250u);
  EXPECT_EQ(pages, 3);
  nfr::v1::ListFlowsRequest req;
  req.set_page_size(1001);
  nfr::v1::ListFlowsResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ListFlows(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("page_size"), std::string::npos) << s.error_message();
  }
  req.set_page_size(10);
  req.set_page_token("bm90IGEga2V5");
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ListFlows(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << s.error_message();
  }
}

TEST_F(FlowsApiTest, DenyCutsWritesOperatorEntriesLogsAndPublishes) {
  Populate();
  grpc::ClientContext wctx;
  nfr::v1::WatchDecisionsRequest wreq;
  wreq.mutable_filter()->set_source(nfr::v1::DECISION_SOURCE_OPERATOR);
  SetWatchDeadline(&wctx);
  auto watch = DecisionStub()->WatchDecisions(&wctx, wreq);
  WaitForWatchers(1);

  nfr::v1::FlowEntryFilter f;
  f.set_prefix("10.77.1.2");  // web, dns (+reply entry), block
  nfr::v1::ChangeFlowsResponse resp;
  grpc::Status s = Change(/*deny=*/true, f, &resp, 0, "incident 7");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.matched(), 3u);  // block is already dropped
  EXPECT_EQ(resp.changed(), 3u);
  EXPECT_EQ(control_->CachedVerdict(MakeFlow("10.77.0.2", "10.77.1.2", 80)), nfr::v1::VERDICT_DROP);
  nfr::v1::Flow dns_reply = MakeFlow("10.77.1.2", "10.77.0.3", 40000, nfr::v1::PROTOCOL_UDP);
  dns_reply.set_src_port(53);
  EXPECT_EQ(control_->CachedVerdict(dns_reply), nfr::v1::VERDICT_DROP);

  f.set_origin(nfr::v1::FLOW_ORIGIN_OPERATOR);
  const std::vector<FlowEntry> denied = List(f);
  ASSERT_EQ(denied.size(), 3u);
  const std::vector<nfr::v1::Decision> logged = OperatorDecisions();
  ASSERT_EQ(logged.size(), 3u);
  std::set<uint64_t> ids;
  for (const nfr::v1::Decision& d : logged) {
    EXPECT_EQ(d.verdict(), nfr::v1::VERDICT_DROP);
    EXPECT_EQ(d.reason(), "incident 7");
    EXPECT_NE(d.decider().find("uid:0"), std::string::npos) << d.decider();
    ids.insert(d.id());
  }
  for (const FlowEntry& e : denied) {
    EXPECT_EQ(e.verdict(), nfr::v1::VERDICT_DROP);
    EXPECT_TRUE(ids.count(e.decision_id())) << e.DebugString();
  }
  for (int i = 0; i < 3; ++i) {
    nfr::v1::DecisionEvent ev;
    ASSERT_TRUE(watch->Read(&ev));
    EXPECT_TRUE(ids.count(ev.decision().id())) << ev.DebugString();
  }
  wctx.TryCancel();

  // A policy change does not undo the operator's deny.
  ApplyTestPolicy();
  EXPECT_EQ(control_->CachedVerdict(MakeFlow("10.77.0.2", "10.77.1.2", 80)), nfr::v1::VERDICT_DROP);
  // Denying again changes nothing.
  ASSERT_TRUE(Change(true, f, &resp).ok());
  EXPECT_EQ(resp.changed(), 0u);
}

TEST_F(FlowsApiTest, DeleteForgetsSoTheNextPacketIsDecidedAgain) {
  Populate();
  nfr::v1::FlowEntryFilter f;
  f.set_protocol(nfr::v1::PROTOCOL_UDP);
  nfr::v1::ChangeFlowsResponse resp;
  ASSERT_TRUE(Change(false, f, &resp).ok());
  EXPECT_EQ(resp.matched(), 2u);
  EXPECT_EQ(resp.changed(), 2u);
  EXPECT_TRUE(List(f).empty());
  // The policy decides it again (not a cache hit).
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.3", "10.77.1.2", 53, nfr::v1::PROTOCOL_UDP)),
            TestAgent::Outcome::kAccepted);
  const std::vector<nfr::v1::Decision> logged = OperatorDecisions();
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0].verdict(), nfr::v1::VERDICT_UNSPECIFIED);
  EXPECT_EQ(logged[0].reason(), "flow entry deleted");

  // An empty filter matches everything; the limit bounds one call.
  // (Listed entries: the cache's, plus the reply entries accepted UDP flows imply.)
  const size_t before = List({}).size();
  ASSERT_TRUE(Change(false, {}, &resp, 2).ok());
  EXPECT_EQ(resp.changed(), 2u);
  EXPECT_EQ(resp.matched(), before);
  const size_t rest = List({}).size();
  EXPECT_GE(rest, before - 3);  // an implied reply goes with its flow
  EXPECT_LE(rest, before - 2);
  ASSERT_TRUE(Change(false, {}, &resp).ok());
  EXPECT_EQ(resp.changed(), rest);
  EXPECT_EQ(control_->CachedEntries(), 0u);
}

TEST_F(FlowsApiTest, BadRequestsNameTheFieldAndChangeNothing) {
  Populate();
  const size_t before = control_->CachedEntries();
  nfr::v1::ChangeFlowsResponse resp;
  nfr::v1::FlowEntryFilter f;
  f.set_prefix("10.77.0.300/8");
  grpc::Status s = Change(true, f, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("filter.prefix"), std::string::npos) << s.error_message();
  f.Clear();
  f.set_origin(static_cast<nfr::v1::FlowOrigin>(9));
  s = Change(false, f, &resp);
  EXPECT_NE(s.error_message().find("filter.origin"), std::string::npos) << s.error_message();
  s = Change(true, {}, &resp, 10001);
  EXPECT_NE(s.error_message().find("limit"), std::string::npos) << s.error_message();
  s = Change(true, {}, &resp, 0, std::string(513, 'x'));
  EXPECT_NE(s.error_message().find("reason"), std::string::npos) << s.error_message();
  EXPECT_EQ(control_->CachedEntries(), before);
  EXPECT_TRUE(OperatorDecisions().empty());
}

class FlowsRoleTest : public FlowsApiTest {
 protected:
  void SetUp() override {}
  void StartAs(nfr::v1::Role role) {
    ApiFixture::SetUp();
    auto* b = api_config_.add_role_bindings();
    b->set_identity("uid:0");
    b->set_role(role);
    StartServer();
    stub_ = nfr::v1::FlowService::NewStub(UnixChannel());
  }
};

TEST_F(FlowsRoleTest, ViewerListsButCannotChange) {
  StartAs(nfr::v1::ROLE_VIEWER);
  ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80)), TestAgent::Outcome::kPending);
  control_->ExpireDue(true);
  EXPECT_EQ(List({}).size(), 1u);
  nfr::v1::ChangeFlowsResponse resp;
  for (bool deny : {true, false}) {
    grpc::Status s = Change(deny, {}, &resp);
    EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
    EXPECT_NE(s.error_message().find(deny ? "DenyFlows needs role decider"
                                          : "DeleteFlows needs role decider"),
              std::string::npos)
        << s.error_message();
  }
  EXPECT_EQ(control_->CachedEntries(), 1u);
}

TEST_F(FlowsRoleTest, DeciderChanges) {
  StartAs(nfr::v1::ROLE_DECIDER);
  ASSERT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80)), TestAgent::Outcome::kPending);
  control_->ExpireDue(true);
  nfr::v1::ChangeFlowsResponse resp;
  ASSERT_TRUE(Change(false, {}, &resp).ok());
  EXPECT_EQ(resp.changed(), 1u);
}

TEST_F(FlowsApiTest, NfrctlFlowsListRmDeny) {
  Populate();
  const std::string target = " --target unix://" + dir_ + "/agent.sock ";
  CommandResult r = RunCommand(Nfrctl() + target + "flows list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rule web v" + std::to_string(version_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decision " + std::to_string(controller_decision_)), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(reply)"), std::string::npos) << r.out;
  r = RunCommand(Nfrctl() + target + "flows list --origin default -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"origin\":\"FLOW_ORIGIN_DEFAULT\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FLOW_ORIGIN_POLICY"), std::string::npos) << r.out;

  r = RunCommand(Nfrctl() + target + "flows deny");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("needs a filter"), std::string::npos) << r.out;
  r = RunCommand(Nfrctl() + target + "flows deny --origin sideways");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--origin must be"), std::string::npos) << r.out;

  r = RunCommand(Nfrctl() + target + "flows deny --prefix 10.77.0.2 --protocol tcp --reason x");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("1 denied of 1 matching"), std::string::npos)
      << r.out;  // web; block was dropped
  r = RunCommand(Nfrctl() + target + "decisions list --source operator");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("10.77.1.2:80"), std::string::npos) << r.out;
  r = RunCommand(Nfrctl() + target + "flows rm --all -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"changed\":6"), std::string::npos) << r.out;
  r = RunCommand(Nfrctl() + target + "flows rm --help");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("next packet of each is decided again"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace nfr::test
