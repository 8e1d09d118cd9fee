#include "tests/api/api_test_support.h"

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/config/config_defaults.h"

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

CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) r.out.append(buf, n);
  int rc = pclose(f);
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return r;
}

std::vector<std::string> ExecPrefix() {
  std::vector<std::string> out;
  const char* env = std::getenv("NFR_TEST_EXEC_PREFIX");
  std::istringstream words(env ? env : "");
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

double TimeScale() {
  const char* env = std::getenv("NFR_IT_TIME_SCALE");
  const double scale = env != nullptr ? std::atof(env) : 1.0;
  return scale >= 1.0 ? scale : 1.0;
}

std::string Nfrctl() {
  std::string cmd;
  for (const std::string& w : ExecPrefix()) cmd += w + " ";
  return cmd + NfrctlPath();
}

std::string NfrctlPath() { return NFRCTL_PATH; }

TestPki MakePki(const std::string& dir,
                const std::vector<std::pair<std::string, std::string>>& clients) {
  TestPki p;
  p.dir = dir;
  p.ca = dir + "/ca.crt";
  p.server_cert = dir + "/server.crt";
  p.server_key = dir + "/server.key";
  auto sh = [&](const std::string& c) {
    int rc = Shell("cd " + dir + " && " + c + " >/dev/null 2>&1");
    EXPECT_EQ(rc, 0) << c;
  };
  sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
     "-subj '/CN=nfr test ca'");
  sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 "
     "-subj '/CN=other ca'");
  auto issue = [&](const std::string& name, const std::string& subj, const std::string& ca,
                   const std::string& ext) {
    const std::string days = name.rfind("expired", 0) == 0 ? "-1" : "2";  // -1: already expired
    sh("openssl req -newkey rsa:2048 -nodes -keyout " + name + ".key -out " + name +
       ".csr -subj '" + subj + "'");
    sh("printf '" + ext + "' > " + name + ".ext");
    sh("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
       ".key -CAcreateserial -out " + name + ".crt -days " + days + " -extfile " + name + ".ext");
  };
  issue("server", "/CN=localhost", "ca",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  for (const auto& [name, subj] : clients) {
    const bool foreign = name.rfind("foreign", 0) == 0;
    issue(name, subj, foreign ? "other-ca" : "ca", "extendedKeyUsage=clientAuth\n");
  }
  return p;
}

void ApiFixture::SetUp() {
  dir_ = MakeTempDir();
  ASSERT_FALSE(dir_.empty());
  nfr::v1::AgentConfig c;
  c.mutable_api()->set_unix_socket(dir_ + "/agent.sock");
  c.mutable_store()->set_db_path(dir_ + "/state.db");
  ApplyDefaults(c);
  api_config_ = c.api();
  store_config_ = c.store();
  control_ = std::make_unique<TestAgent>();
}

void ApiFixture::TearDown() {
  StopServer();
  control_.reset();
  Shell("rm -rf " + dir_);
}

void ApiFixture::StartServer(ApiServerOptions options, CoreOptions core_options) {
  absl::StatusOr<std::unique_ptr<Core>> c = Core::Open(control_.get(), store_config_, core_options);
  ASSERT_TRUE(c.ok()) << c.status();
  core_ = std::move(*c);
  absl::StatusOr<std::unique_ptr<ApiServer>> s =
      ApiServer::Start(core_.get(), api_config_, options);
  ASSERT_TRUE(s.ok()) << s.status();
  server_ = std::move(*s);
  control_->SetSink(core_->event_sink());
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiFixture::TryStartServer() {
  if (core_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Core>> c = Core::Open(control_.get(), store_config_);
    if (!c.ok()) return c.status();
    core_ = std::move(*c);
  }
  return ApiServer::Start(core_.get(), api_config_);
}

void ApiFixture::StopServer() {
  if (control_) control_->SetSink(nullptr);
  if (core_) core_->Stop();
  server_.reset();
  core_.reset();
}

std::shared_ptr<grpc::Channel> ApiFixture::UnixChannel() {
  return grpc::CreateChannel("unix://" + dir_ + "/agent.sock", grpc::InsecureChannelCredentials());
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

void ApiFixture::WaitForWatchers(uint64_t n) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(10000 * TimeScale()));
  uint64_t seen = 0;
  while (std::chrono::steady_clock::now() < until) {
    nfr::v1::AgentStatus st;
    grpc::ClientContext ctx;
    const grpc::Status s = AgentStub()->GetStatus(&ctx, {}, &st);
    if (!s.ok()) {
      ADD_FAILURE() << "GetStatus: " << s.error_message();
      return;
    }
    seen = st.counters().watchers();
    if (seen == n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the agent reports " << seen << " watchers, expected " << n;
}

void ApiFixture::SetWatchDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(30000 * TimeScale())));
}

}  // namespace nfr::test
