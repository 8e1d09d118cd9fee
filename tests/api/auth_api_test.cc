// Roles over real mTLS (certificates generated with openssl at test time)
// and over the Unix socket (nfrctl run as another uid with setpriv).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>

#include "tests/api/api_test_support.h"

namespace nfr::test {
namespace {

class AuthTest : public ApiFixture {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new std::string(MakeTempDir());
    pki_ = new TestPki(MakePki(*pki_dir_, {{"admin", "/CN=alice/OU=nfr-admin"},
                                           {"decider", "/CN=bob/OU=nfr-decider"},
                                           {"viewer", "/CN=carol/OU=nfr-viewer"},
                                           {"stranger", "/CN=mallory"},
                                           {"bot", "/CN=ops-bot"},
                                           {"foreign", "/CN=eve/OU=nfr-admin"},
                                           {"expired", "/CN=old/OU=nfr-admin"},
                                           {"dual", "/CN=dual/OU=nfr-admin/OU=nfr-viewer"}}));
  }
  static void TearDownTestSuite() {
    Shell("rm -rf " + *pki_dir_);
    delete pki_;
    delete pki_dir_;
  }
  void StartTls() {
    api_config_.set_tcp_listen("127.0.0.1:0");
    api_config_.mutable_tls()->set_cert_file(pki_->server_cert);
    api_config_.mutable_tls()->set_key_file(pki_->server_key);
    api_config_.mutable_tls()->set_client_ca_file(pki_->ca);
    auto* b = api_config_.add_role_bindings();
    b->set_identity("cert:ops-bot");
    b->set_role(nfr::v1::ROLE_ADMIN);
    StartServer();
    // gRPC 1.51 matches DNS SANs only, so dial the name the certificate holds.
    target_ = "localhost:" + std::to_string(server_->tcp_port());
  }
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& who) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadAll(pki_->ca);
    if (!who.empty()) {
      o.pem_cert_chain = ReadAll(pki_->Cert(who));
      o.pem_private_key = ReadAll(pki_->Key(who));
    }
    return grpc::CreateChannel(target_, grpc::SslCredentials(o));
  }
  grpc::Status GetPolicy(std::shared_ptr<grpc::Channel> ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    nfr::v1::GetPolicyResponse resp;
    return nfr::v1::PolicyService::NewStub(ch)->GetPolicy(&ctx, {}, &resp);
  }
  grpc::Status AddRule(std::shared_ptr<grpc::Channel> ch, const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    nfr::v1::AddRuleRequest req;
    req.mutable_rule()->set_id(id);
    req.mutable_rule()->set_action(nfr::v1::ACTION_ACCEPT);
    nfr::v1::AddRuleResponse resp;
    return nfr::v1::PolicyService::NewStub(ch)->AddRule(&ctx, req, &resp);
  }
  grpc::Status Decide(std::shared_ptr<grpc::Channel> ch, uint64_t id,
                      nfr::v1::DecideResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    nfr::v1::DecideRequest req;
    req.set_pending_id(id);
    req.set_verdict(nfr::v1::VERDICT_ACCEPT);
    return nfr::v1::ConnectionService::NewStub(ch)->Decide(&ctx, req, resp);
  }
  static std::string* pki_dir_;
  static TestPki* pki_;
  std::string target_;
};

std::string* AuthTest::pki_dir_ = nullptr;
TestPki* AuthTest::pki_ = nullptr;

TEST_F(AuthTest, CertificateRolesOverMutualTls) {
  StartTls();
  // viewer: read yes, decide/policy no.
  auto viewer = TlsChannel("viewer");
  EXPECT_TRUE(GetPolicy(viewer).ok());
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  nfr::v1::DecideResponse dr;
  grpc::Status s = Decide(viewer, id, &dr);
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("needs role decider"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("cert:carol"), std::string::npos) << s.error_message();
  EXPECT_EQ(control_->ListPending().size(), 1u);
  // decider: decide yes, policy no.
  auto decider = TlsChannel("decider");
  s = AddRule(decider, "x");
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("needs role admin"), std::string::npos) << s.error_message();
  ASSERT_TRUE(Decide(decider, id, &dr).ok());
  EXPECT_EQ(dr.decision().decider(), "cert:bob");
  // admin by OU, and by a cert: binding.
  EXPECT_TRUE(AddRule(TlsChannel("admin"), "by-alice").ok());
  EXPECT_TRUE(AddRule(TlsChannel("bot"), "by-bot").ok());
  EXPECT_EQ(control_->GetPolicy().version(), 3u);
  // A valid certificate with no role mapping gets nothing.
  s = GetPolicy(TlsChannel("stranger"));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("needs role viewer"), std::string::npos) << s.error_message();
}

TEST_F(AuthTest, TlsRefusesUnknownCaAndMissingClientCert) {
  StartTls();
  EXPECT_EQ(GetPolicy(TlsChannel("foreign")).error_code(), grpc::UNAVAILABLE);
  EXPECT_EQ(GetPolicy(TlsChannel("")).error_code(), grpc::UNAVAILABLE);
  EXPECT_EQ(
      GetPolicy(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials())).error_code(),
      grpc::UNAVAILABLE);
}

// Issue 12's mTLS edges: each refused, none gets a role.
TEST_F(AuthTest, MutualTlsEdgesAreRefused) {
  StartTls();
  // Expired client certificate: the handshake fails.
  grpc::Status s = GetPolicy(TlsChannel("expired"));
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE) << s.error_message();
  // The server's certificate does not carry the name the client expects.
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ReadAll(pki_->ca);
  o.pem_cert_chain = ReadAll(pki_->Cert("admin"));
  o.pem_private_key = ReadAll(pki_->Key("admin"));
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("agent.example");
  s = GetPolicy(grpc::CreateCustomChannel(target_, grpc::SslCredentials(o), args));
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE) << s.error_message();
  // Two role OUs: ambiguous, refused rather than given the higher one.
  s = AddRule(TlsChannel("dual"), "x");
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  s = GetPolicy(TlsChannel("dual"));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("2 role OUs (nfr-admin, nfr-viewer)"), std::string::npos)
      << s.error_message();
  // No OU and no binding: every nfr.v1 call is refused, and says why...
  s = GetPolicy(TlsChannel("stranger"));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("no OU=nfr-admin|nfr-decider|nfr-viewer"), std::string::npos)
      << s.error_message();
  // ...but health stays open to any certificate of the trusted CA (docs/security.md).
  grpc::GenericStub generic(TlsChannel("stranger"));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice empty("");
  grpc::ByteBuffer req(&empty, 1), resp;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                    [&](grpc::Status st) { done.set_value(st); });
  grpc::Status hs = done.get_future().get();
  EXPECT_TRUE(hs.ok()) << hs.error_message();
}

TEST_F(AuthTest, PlainTcpNeedsExplicitInsecureFlag) {
  api_config_.set_tcp_listen("127.0.0.1:0");
  auto s = TryStartServer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("needs mTLS"), std::string::npos) << s.status();
  api_config_.set_insecure_tcp(true);
  api_config_.set_insecure_tcp_role(nfr::v1::ROLE_VIEWER);
  StartServer();
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->tcp_port()),
                                grpc::InsecureChannelCredentials());
  EXPECT_TRUE(GetPolicy(ch).ok());
  EXPECT_EQ(AddRule(ch, "x").error_code(), grpc::PERMISSION_DENIED);
}

TEST_F(AuthTest, BadRoleBindingsAreRefusedAtStart) {
  auto* b = api_config_.add_role_bindings();
  b->set_identity("hostname:foo");
  b->set_role(nfr::v1::ROLE_ADMIN);
  auto s = TryStartServer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("api.role_bindings[0].identity"), std::string::npos)
      << s.status();
  b->set_identity("uid:root");
  EXPECT_FALSE(TryStartServer().ok());
  b->set_identity("uid:0");
  b->set_role(nfr::v1::ROLE_NONE);
  s = TryStartServer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("api.role_bindings[0].role"), std::string::npos);
}

TEST_F(AuthTest, NfrctlOverMutualTls) {
  StartTls();
  const std::string base = Nfrctl() + " --target " + target_ + " --ca " + pki_->ca;
  CommandResult r = RunCommand(base + " --cert " + pki_->Cert("viewer") + " --key " +
                               pki_->Key("viewer") + " status");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("cert:carol (viewer)"), std::string::npos) << r.out;
  r = RunCommand(base + " --cert " + pki_->Cert("viewer") + " --key " + pki_->Key("viewer") +
                 " policy rm-rule ask-all");
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("PERMISSION_DENIED"), std::string::npos) << r.out;
  r = RunCommand(base + " --cert " + pki_->Cert("admin") + " --key " + pki_->Key("admin") +
                 " policy rm-rule ask-all");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

class UnixAuthTest : public AuthTest {
 protected:
  void SetUp() override {
    AuthTest::SetUp();
    Shell("chmod 0755 " + dir_);
    api_config_.set_socket_group("nogroup");
    // A copy nobody can run: the build tree may sit under a directory only root can enter
    // (a clone in `mktemp -d`).
    ASSERT_EQ(Shell("cp " + NfrctlPath() + " " + dir_ + "/nfrctl && chmod 0755 " +
                    dir_ + "/nfrctl"),
              0);
  }
  CommandResult AsNobody(const std::string& args) {
    std::string ctl;
    for (const std::string& w : ExecPrefix()) ctl += w + " ";
    return RunCommand("setpriv --reuid=65534 --regid=65534 --clear-groups " + ctl + dir_ +
                      "/nfrctl --target unix://" + dir_ + "/agent.sock " + args);
  }
};

TEST_F(UnixAuthTest, SocketGroupMembersDecideButCannotChangePolicy) {
  StartServer();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/agent.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, 65534u);
  CommandResult r = AsNobody("status");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("uid:65534(nobody) (decider)"), std::string::npos) << r.out;
  r = AsNobody("policy add-rule --id x --action accept");
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("needs role admin"), std::string::npos) << r.out;
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  r = AsNobody("decide " + std::to_string(id) + " drop --reason 'not today'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(control_->ListPending().empty());
  EXPECT_EQ(control_->GetPolicy().version(), 1u);
}

TEST_F(UnixAuthTest, BindingsOverrideDefaults) {
  auto* b = api_config_.add_role_bindings();
  b->set_identity("uid:65534");
  b->set_role(nfr::v1::ROLE_VIEWER);
  StartServer();
  uint64_t id = 0;
  control_->Offer(MakeFlow("10.77.0.2", "10.77.1.2", 80), &id);
  CommandResult r = AsNobody("decide " + std::to_string(id) + " accept");
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("needs role decider"), std::string::npos) << r.out;
  r = AsNobody("pending list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("10.77.1.2:80"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace nfr::test
