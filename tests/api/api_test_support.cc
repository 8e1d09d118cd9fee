#include "tests/api/api_test_support.h"

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nfr::test {

std::string MakeTempDir() {
  char tmpl[] = "/tmp/nfr-api-XXXXXX";
  char* d = mkdtemp(tmpl);
  return d ? std::string(d) : std::string();
}

int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ApiFixture::SetUp() {
  dir_ = MakeTempDir();
  ASSERT_FALSE(dir_.empty());
  api_config_.set_unix_socket(dir_ + "/agent.sock");
  store_config_.set_db_path(dir_ + "/state.db");
  control_ = std::make_unique<TestAgentControl>();
}

void ApiFixture::TearDown() {
  StopServer();
  control_.reset();
  Shell("rm -rf " + dir_);
}

void ApiFixture::StartServer(ApiServerOptions options) {
  absl::StatusOr<std::unique_ptr<ApiServer>> s =
      ApiServer::Start(control_.get(), api_config_, store_config_, options);
  ASSERT_TRUE(s.ok()) << s.status();
  server_ = std::move(*s);
  control_->SetSink(server_->event_sink());
}

void ApiFixture::StopServer() {
  if (control_) control_->SetSink(nullptr);
  server_.reset();
}

std::shared_ptr<grpc::Channel> ApiFixture::UnixChannel() {
  return grpc::CreateChannel("unix://" + dir_ + "/agent.sock",
                             grpc::InsecureChannelCredentials());
}

std::unique_ptr<nfr::v1::PolicyService::Stub> ApiFixture::PolicyStub() {
  return nfr::v1::PolicyService::NewStub(UnixChannel());
}
std::unique_ptr<nfr::v1::ConnectionService::Stub> ApiFixture::ConnStub() {
  return nfr::v1::ConnectionService::NewStub(UnixChannel());
}
std::unique_ptr<nfr::v1::DecisionService::Stub> ApiFixture::DecisionStub() {
  return nfr::v1::DecisionService::NewStub(UnixChannel());
}
std::unique_ptr<nfr::v1::AgentService::Stub> ApiFixture::AgentStub() {
  return nfr::v1::AgentService::NewStub(UnixChannel());
}

}  // namespace nfr::test
