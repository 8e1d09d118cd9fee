// Test harness for the API tier: a temporary directory, the real control core
// (real SQLite file) and ApiServer (real Unix socket) over a TestAgent, and stubs.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/api/api_server.h"
#include "agent/core/core.h"
#include "nfr/v1/agent_service.grpc.pb.h"
#include "nfr/v1/connection_service.grpc.pb.h"
#include "nfr/v1/decision_service.grpc.pb.h"
#include "nfr/v1/policy_service.grpc.pb.h"
#include "tests/api/test_agent.h"

namespace nfr::test {

std::string MakeTempDir();
// Runs a shell command; returns its exit status.
int Shell(const std::string& cmd);
std::string ReadAll(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};
// Runs `cmd` with /bin/sh, capturing output.
CommandResult RunCommand(const std::string& cmd);
// The nfrctl binary built alongside the tests.
std::string Nfrctl();
// The nfrctl binary itself (Nfrctl() without the exec prefix).
std::string NfrctlPath();
// $NFR_TEST_EXEC_PREFIX split at spaces: what runs a binary built for the target (the cross tier
// sets "qemu-ARCH-static -L SYSROOT"; the host kernel has no binfmt_misc entry for it). Empty
// natively. Nfrctl() and re-executed test binaries go through it.
std::vector<std::string> ExecPrefix();
// $NFR_IT_TIME_SCALE (default 1): how much slower than native this runs (qemu-user: 10).
// Latency bounds are multiplied by it.
double TimeScale();

// Generates a CA, a server certificate for 127.0.0.1/localhost and client
// certificates (`name` -> subject) under `dir` with openssl: names starting
// with "foreign" are signed by another CA, with "expired" expired yesterday.
struct TestPki {
  std::string dir;
  std::string ca, server_cert, server_key;
  std::string Cert(const std::string& name) const { return dir + "/" + name + ".crt"; }
  std::string Key(const std::string& name) const { return dir + "/" + name + ".key"; }
};
TestPki MakePki(const std::string& dir,
                const std::vector<std::pair<std::string, std::string>>& clients);

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)starts the core on dir_/state.db and the server on dir_/agent.sock.
  void StartServer(ApiServerOptions options = {}, CoreOptions core_options = {});
  void StopServer();
  // Opens the core if needed and tries to start a server (for start errors).
  absl::StatusOr<std::unique_ptr<ApiServer>> TryStartServer();
  std::shared_ptr<grpc::Channel> UnixChannel();

  std::unique_ptr<nfr::v1::PolicyService::Stub> PolicyStub();
  std::unique_ptr<nfr::v1::ConnectionService::Stub> ConnStub();
  std::unique_ptr<nfr::v1::DecisionService::Stub> DecisionStub();
  std::unique_ptr<nfr::v1::AgentService::Stub> AgentStub();
  // A watch stream is registered only once the server has the call: waits
  // until the agent reports `n` watchers (adds a failure if it never does).
  void WaitForWatchers(uint64_t n);
  // A deadline for a watch stream, so an event that never comes fails the
  // test instead of hanging it.
  static void SetWatchDeadline(grpc::ClientContext* ctx);

  std::string dir_;
  nfr::v1::ApiConfig api_config_;
  nfr::v1::StoreConfig store_config_;
  std::unique_ptr<TestAgent> control_;
  std::unique_ptr<Core> core_;
  std::unique_ptr<ApiServer> server_;
};

}  // namespace nfr::test
