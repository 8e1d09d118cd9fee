// UpdateSet (named sets by delta) over the real Unix socket and SQLite file:
// versions, durability, guards, errors, the size limits, and a 1M-prefix set.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

using nfr::v1::Policy;

class SetsApiTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    StartServer();
    // A prefix set that a drop rule uses, and a port set.
    Policy p;
    p.set_default_verdict(nfr::v1::VERDICT_ACCEPT);
    (*p.mutable_sets())["block"].add_prefixes("10.77.9.0/24");
    (*p.mutable_sets())["ports"].add_ports()->set_first(8080);
    nfr::v1::Rule* r = p.add_rules();
    r->set_id("blocklist");
    r->set_dst_set("block");
    r->set_action(nfr::v1::ACTION_DROP);
    r = p.add_rules();
    r->set_id("alt-web");
    r->set_protocol(nfr::v1::PROTOCOL_TCP);
    r->set_dst_port_set("ports");
    r->set_action(nfr::v1::ACTION_ACCEPT);
    grpc::ClientContext ctx;
    nfr::v1::ApplyPolicyRequest req;
    *req.mutable_policy() = p;
    nfr::v1::ApplyPolicyResponse resp;
    ASSERT_TRUE(PolicyStub()->ApplyPolicy(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.policy().version(), 2u);
  }
  grpc::Status Update(const nfr::v1::UpdateSetRequest& req, nfr::v1::UpdateSetResponse* resp,
                      std::chrono::seconds deadline = std::chrono::seconds(10)) {
    grpc::ClientContext ctx;
    // Scaled: under qemu-user, changing a 1M-prefix set takes longer than 10 s.
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::milliseconds>(deadline * TimeScale()));
    return PolicyStub()->UpdateSet(&ctx, req, resp);
  }
  Policy Get() { return control_->GetPolicy(); }
};

TEST_F(SetsApiTest, AddAndRemoveBumpTheVersionAndTakeEffect) {
  nfr::v1::UpdateSetRequest req;
  req.set_name("block");
  req.add_add("10.77.8.1");
  req.add_add("10.77.9.0/24");  // already there
  req.add_add("2001:db8:77::/48");
  nfr::v1::UpdateSetResponse resp;
  ASSERT_TRUE(Update(req, &resp).ok());
  EXPECT_EQ(resp.version(), 3u);
  EXPECT_EQ(resp.added(), 2u);
  EXPECT_EQ(resp.already_present(), 1u);
  EXPECT_EQ(resp.size(), 3u);
  // The compiled policy drops the added host now, and not its neighbour.
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.8.1", 80)), TestAgent::Outcome::kDropped);
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.2", "10.77.8.2", 80)), TestAgent::Outcome::kAccepted);

  req.Clear();
  req.set_name("block");
  req.add_remove("10.77.8.1/32");
  req.add_remove("10.77.7.0/24");  // not there
  req.set_expected_version(3);
  ASSERT_TRUE(Update(req, &resp).ok());
  EXPECT_EQ(resp.version(), 4u);
  EXPECT_EQ(resp.removed(), 1u);
  EXPECT_EQ(resp.absent(), 1u);
  EXPECT_EQ(control_->Offer(
                MakeFlow("10.77.0.2", "10.77.8.1", 80, nfr::v1::PROTOCOL_TCP, "r-cli", 40001)),
            TestAgent::Outcome::kAccepted);

  // Ports by delta.
  req.Clear();
  req.set_name("ports");
  req.add_add_ports()->set_first(8443);
  auto* range = req.add_remove_ports();
  range->set_first(8080);
  ASSERT_TRUE(Update(req, &resp).ok());
  EXPECT_EQ(resp.added(), 1u);
  EXPECT_EQ(resp.removed(), 1u);
  ASSERT_EQ(Get().sets().at("ports").ports_size(), 1);
  EXPECT_EQ(Get().sets().at("ports").ports(0).first(), 8443u);

  // Durable: a restarted core restores the latest version with the set.
  StopServer();
  StartServer();
  EXPECT_EQ(Get().version(), 5u);
  EXPECT_EQ(Get().sets().at("block").prefixes_size(), 2);
}

TEST_F(SetsApiTest, ErrorsNameTheProblemAndChangeNothing) {
  struct Case {
    std::function<void(nfr::v1::UpdateSetRequest&)> fill;
    grpc::StatusCode code;
    std::string text;
  } cases[] = {
      {[](auto& r) {
         r.set_name("nope");
         r.add_add("10.0.0.0/8");
       },
       grpc::NOT_FOUND, "set \"nope\" is not defined"},
      {[](auto& r) {
         r.set_name("block");
         r.add_add("10.0.0.0/8");
         r.add_add("10.0.0.1/8");
       },
       grpc::INVALID_ARGUMENT, "add[1]"},
      {[](auto& r) {
         r.set_name("ports");
         r.add_add("10.0.0.0/8");
       },
       grpc::FAILED_PRECONDITION, "holds ports"},
      {[](auto& r) {
         r.set_name("block");
         r.add_add_ports()->set_first(80);
       },
       grpc::FAILED_PRECONDITION, "holds prefixes"},
      {[](auto& r) {
         r.set_name("ports");
         r.add_add_ports()->set_first(70000);
       },
       grpc::INVALID_ARGUMENT, "add_ports[0]"},
      {[](auto& r) {
         r.set_name("block");
         r.add_add("10.0.0.0/8");
         r.set_expected_version(1);
       },
       grpc::FAILED_PRECONDITION, "expected_version"},
      {[](auto& r) {
         r.set_name("block");
         r.add_add("10.0.0.0/8");
         r.set_comment(std::string(300, 'c'));
       },
       grpc::INVALID_ARGUMENT, "comment: 300 bytes"},
  };
  for (const Case& c : cases) {
    nfr::v1::UpdateSetRequest req;
    c.fill(req);
    nfr::v1::UpdateSetResponse resp;
    grpc::Status s = Update(req, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.text << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.text), std::string::npos) << s.error_message();
    EXPECT_EQ(Get().version(), 2u);
  }
}

TEST_F(SetsApiTest, PolicySizeLimitIsConfigurableAndNamed) {
  StopServer();
  api_config_.mutable_limits()->set_max_policy_bytes(4096);
  CoreOptions o;
  o.max_policy_bytes = 4096;
  StartServer({}, o);
  nfr::v1::UpdateSetRequest req;
  req.set_name("block");
  for (int i = 0; i < 1000; ++i) req.add_add(absl::StrCat("10.", i / 256, ".", i % 256, ".0/24"));
  nfr::v1::UpdateSetResponse resp;
  grpc::Status s = Update(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("api.limits.max_policy_bytes"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(Get().version(), 2u);
}

TEST_F(SetsApiTest, MessageSizeLimitIsConfigurable) {
  StopServer();
  api_config_.mutable_limits()->set_max_message_bytes(64 << 10);
  StartServer();
  nfr::v1::UpdateSetRequest req;
  req.set_name("block");
  for (int i = 0; i < 10000; ++i) req.add_add(absl::StrCat("10.", i / 256, ".", i % 256, ".0/24"));
  nfr::v1::UpdateSetResponse resp;
  grpc::Status s = Update(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(Get().version(), 2u);
}

// Issue 9: a 1M-prefix set is sent in one request with the default limits.
TEST_F(SetsApiTest, AMillionPrefixSetInOneRequest) {
  nfr::v1::UpdateSetRequest req;
  req.set_name("block");
  for (uint32_t i = 0; i < (1u << 20) - 1; ++i) {
    const uint32_t a = (11u << 24) + (i << 4);  // 11.0.0.0/28, 11.0.0.16/28, ...
    req.add_add(
        absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/28"));
  }
  std::printf("UpdateSet request: %zu bytes\n", req.ByteSizeLong());
  const auto t0 = std::chrono::steady_clock::now();
  nfr::v1::UpdateSetResponse resp;
  grpc::Status s = Update(req, &resp, std::chrono::seconds(240));
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::printf("1M-prefix UpdateSet took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(resp.size(), 1u << 20);
  EXPECT_EQ(control_->Offer(MakeFlow("10.77.0.2", "11.15.255.225", 80)),
            TestAgent::Outcome::kDropped);
  // One more is over the per-set limit, named.
  req.Clear();
  req.set_name("block");
  req.add_add("12.0.0.0/8");
  s = Update(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("over the limit of 1048576"), std::string::npos)
      << s.error_message();
}

}  // namespace
}  // namespace nfr::test
