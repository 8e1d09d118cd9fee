// PolicyService and AgentService over the real Unix socket and SQLite file.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

using nfr::v1::Policy;

nfr::v1::Rule Rule(const std::string& id, nfr::v1::Action action, const std::string& dst = "") {
  nfr::v1::Rule r;
  r.set_id(id);
  r.set_action(action);
  if (!dst.empty()) r.add_dst_prefixes(dst);
  return r;
}

class PolicyApiTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
    stub_ = PolicyStub();
  }
  Policy Get() {
    grpc::ClientContext ctx;
    nfr::v1::GetPolicyResponse resp;
    EXPECT_TRUE(stub_->GetPolicy(&ctx, {}, &resp).ok());
    return resp.policy();
  }
  grpc::Status Apply(const Policy& p, std::optional<uint64_t> expected,
                     nfr::v1::ApplyPolicyResponse* resp) {
    grpc::ClientContext ctx;
    nfr::v1::ApplyPolicyRequest req;
    *req.mutable_policy() = p;
    if (expected) req.set_expected_version(*expected);
    return stub_->ApplyPolicy(&ctx, req, resp);
  }
  std::unique_ptr<nfr::v1::PolicyService::Stub> stub_;
};

TEST_F(PolicyApiTest, FirstStartStoresTheConfiguredPolicyAsVersionOne) {
  Policy p = Get();
  EXPECT_EQ(p.version(), 1u);
  ASSERT_EQ(p.rules_size(), 1);
  EXPECT_EQ(p.rules(0).id(), "ask-all");
}

TEST_F(PolicyApiTest, ApplyBumpsVersionAndStaleVersionIsRefused) {
  Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
  *p.add_rules() = Rule("web", nfr::v1::ACTION_ACCEPT, "10.77.1.0/24");
  nfr::v1::ApplyPolicyResponse resp;
  ASSERT_TRUE(Apply(p, 1, &resp).ok());
  EXPECT_EQ(resp.policy().version(), 2u);
  EXPECT_EQ(Get().rules(0).id(), "web");

  p.mutable_rules(0)->set_id("other");
  grpc::Status s = Apply(p, 1, &resp);
  EXPECT_EQ(s.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("expected_version"), std::string::npos) << s.error_message();
  EXPECT_EQ(Get().version(), 2u);
  EXPECT_EQ(Get().rules(0).id(), "web");
  // Without expected_version the apply is unconditional.
  ASSERT_TRUE(Apply(p, std::nullopt, &resp).ok());
  EXPECT_EQ(resp.policy().version(), 3u);
}

TEST_F(PolicyApiTest, InvalidPoliciesAreRefusedNamingTheFieldAndNothingChanges) {
  const int installs = control_->installs();
  struct Case {
    std::function<void(Policy&)> mutate;
    std::string field;
  } cases[] = {
      {[](Policy& p) { *p.add_rules() = Rule("a", nfr::v1::ACTION_ACCEPT, "10.77.0.0/33"); },
       "policy.rules[0].dst_prefixes[0]"},
      {[](Policy& p) { *p.add_rules() = Rule("a", nfr::v1::ACTION_ACCEPT, "10.77.0.300"); },
       "policy.rules[0].dst_prefixes[0]"},
      {[](Policy& p) {
         auto* r = p.add_rules();
         *r = Rule("a", nfr::v1::ACTION_ACCEPT);
         r->set_protocol(nfr::v1::PROTOCOL_TCP);
         r->add_dst_ports()->set_first(70000);
       },
       "policy.rules[0].dst_ports[0].first"},
      {[](Policy& p) { *p.add_rules() = Rule("a", static_cast<nfr::v1::Action>(42)); },
       "policy.rules[0].action"},
      {[](Policy& p) { p.set_default_verdict(static_cast<nfr::v1::Verdict>(9)); },
       "policy.default_verdict"},
      {[](Policy& p) {
         *p.add_rules() = Rule("dup", nfr::v1::ACTION_ACCEPT);
         *p.add_rules() = Rule("dup", nfr::v1::ACTION_DROP);
       },
       "policy.rules[1].id"},
      {[](Policy& p) {
         // The rule-count limit (131072) is covered by policy_test.
         *p.add_rules() = Rule("a", nfr::v1::ACTION_DROP);
         p.mutable_rules(0)->set_dst_set("no-such-set");
       },
       "policy.rules[0].dst_set: rule \"a\" refers to set \"no-such-set\""},
  };
  for (const Case& c : cases) {
    Policy p;
    p.set_default_verdict(nfr::v1::VERDICT_DROP);
    c.mutate(p);
    nfr::v1::ApplyPolicyResponse resp;
    grpc::Status s = Apply(p, std::nullopt, &resp);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << "want " << c.field << " in: " << s.error_message();
  }
  EXPECT_EQ(Get().version(), 1u);
  EXPECT_EQ(Get().rules(0).id(), "ask-all");
  EXPECT_EQ(control_->installs(), installs);
}

TEST_F(PolicyApiTest, OversizedPolicyIsRefused) {
  // The bound is api.limits.max_policy_bytes (64 MiB by default, room for a
  // 1M-prefix set); lowered here so a 1 MB policy is over it.
  StopServer();
  CoreOptions o;
  o.max_policy_bytes = 512 << 10;
  StartServer({}, o);
  stub_ = PolicyStub();
  Policy p;
  for (int i = 0; i < 4000; ++i) {
    auto* r = p.add_rules();
    *r = Rule("rule-" + std::to_string(i), nfr::v1::ACTION_ACCEPT);
    r->set_comment(std::string(250, 'x'));
  }
  nfr::v1::ApplyPolicyResponse resp;
  grpc::Status s = Apply(p, std::nullopt, &resp);
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("bytes, over api.limits.max_policy_bytes (524288)"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(Get().version(), 1u);
}

TEST_F(PolicyApiTest, AddRuleAtPositionAndRemoveRule) {
  nfr::v1::AddRuleRequest add;
  *add.mutable_rule() = Rule("first", nfr::v1::ACTION_DROP, "10.77.9.0/24");
  add.set_position(0);
  nfr::v1::AddRuleResponse added;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->AddRule(&ctx, add, &added).ok());
  }
  ASSERT_EQ(added.policy().rules_size(), 2);
  EXPECT_EQ(added.policy().rules(0).id(), "first");
  EXPECT_EQ(added.policy().version(), 2u);
  {  // appended without position
    *add.mutable_rule() = Rule("last", nfr::v1::ACTION_ACCEPT);
    add.clear_position();
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->AddRule(&ctx, add, &added).ok());
    EXPECT_EQ(added.policy().rules(2).id(), "last");
  }
  {  // duplicate id
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->AddRule(&ctx, add, &added).error_code(), grpc::ALREADY_EXISTS);
  }
  {  // stale expected version
    add.set_expected_version(1);
    *add.mutable_rule() = Rule("x", nfr::v1::ACTION_ACCEPT);
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->AddRule(&ctx, add, &added).error_code(), grpc::FAILED_PRECONDITION);
  }
  nfr::v1::RemoveRuleRequest rm;
  nfr::v1::RemoveRuleResponse removed;
  rm.set_rule_id("first");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->RemoveRule(&ctx, rm, &removed).ok());
    EXPECT_EQ(removed.policy().rules(0).id(), "ask-all");
    EXPECT_EQ(removed.policy().version(), 4u);
  }
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->RemoveRule(&ctx, rm, &removed);
    EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
    EXPECT_NE(s.error_message().find("rule_id"), std::string::npos);
  }
  EXPECT_EQ(Get().version(), 4u);
}

TEST_F(PolicyApiTest, AgentRestartsIntoItsLastPolicy) {
  Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
  *p.add_rules() = Rule("kept", nfr::v1::ACTION_DROP, "fd77:1::/64");
  nfr::v1::ApplyPolicyResponse resp;
  ASSERT_TRUE(Apply(p, 1, &resp).ok());
  stub_.reset();
  StopServer();
  control_ = std::make_unique<TestAgent>();  // a fresh agent: config policy again
  EXPECT_EQ(control_->GetPolicy().rules(0).id(), "ask-all");
  StartServer();
  stub_ = PolicyStub();
  Policy got = Get();
  EXPECT_EQ(got.version(), 2u);
  ASSERT_EQ(got.rules_size(), 1);
  EXPECT_EQ(got.rules(0).id(), "kept");
  EXPECT_EQ(got.default_verdict(), nfr::v1::VERDICT_ACCEPT);
}

TEST_F(PolicyApiTest, StatusReportsAgentAndCaller) {
  auto agent = AgentStub();
  grpc::ClientContext ctx;
  nfr::v1::AgentStatus st;
  ASSERT_TRUE(agent->GetStatus(&ctx, {}, &st).ok());
  EXPECT_EQ(st.mode(), "compat");
  EXPECT_EQ(st.interfaces(0), "r-cli");
  EXPECT_EQ(st.queues(0), 4200u);
  EXPECT_EQ(st.policy_version(), 1u);
  EXPECT_EQ(st.counters().bpf().at("packets"), 7u);
  EXPECT_EQ(st.counters().bpf().size(), 12u);
  EXPECT_EQ(st.caller_role(), "admin");
  EXPECT_NE(st.caller().find("uid:0"), std::string::npos) << st.caller();
}

TEST_F(PolicyApiTest, HealthAndReflectionAreServed) {
  const std::string sock = dir_ + "/agent.sock";
  // grpc.health.v1 via a raw generic call: an empty HealthCheckRequest.
  grpc::GenericStub generic(UnixChannel());
  grpc::ClientContext ctx;
  grpc::ByteBuffer req, resp;
  grpc::Slice empty("");
  req = grpc::ByteBuffer(&empty, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> l(mu);
                      status = s;
                      done = true;
                      cv.notify_all();
                    });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
  (void)sock;

  // Server reflection: ServerReflectionRequest{list_services: ""} over the
  // bidi stream; the reply names our services.
  grpc::CompletionQueue cq;
  grpc::ClientContext rctx;
  auto call = generic.PrepareCall(
      &rctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice list(std::string("\x3a\x00", 2));
  grpc::ByteBuffer rreq(&list, 1);
  call->Write(rreq, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer rresp;
  call->Read(&rresp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  slices.clear();
  ASSERT_TRUE(rresp.Dump(&slices).ok());
  bytes.clear();
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("nfr.v1.PolicyService"), std::string::npos);
  EXPECT_NE(bytes.find("nfr.v1.ConnectionService"), std::string::npos);
  EXPECT_NE(bytes.find("nfr.v1.FlowService"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  rctx.TryCancel();
  grpc::Status fin;
  call->Finish(&fin, reinterpret_cast<void*>(4));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(4)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace nfr::test
