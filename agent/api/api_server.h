// The local gRPC front-end of nfr-agent: serves PolicyService,
// ConnectionService, DecisionService, AgentService, grpc.health.v1 and
// reflection over the control core on the Unix socket and (optionally) TCP
// with mTLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/core/core.h"
#include "nfr/v1/agent_service.pb.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

struct ApiServerOptions {
  size_t watcher_queue = 1024;  // events buffered per watcher before loss
  // Adds to GetStatus what lives outside the core (the controller link).
  std::function<void(nfr::v1::AgentStatus*)> status_extra;
};

struct ApiContext;
class UnixListener;
class RoleMapper;
class PeerRegistry;
class BlockingExecutor;
class StreamGate;
class MemoryTrimmer;
class CallRate;

class ApiServer {
 public:
  // `core` must outlive the server.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(Core* core, const nfr::v1::ApiConfig& api,
                                                          ApiServerOptions options = {});
  ~ApiServer();  // Stop()

  // Stops listening and finishes open calls (watch streams end when the
  // core stops; stop it first).
  void Stop();

  // What GetStatus reports, without the caller (for metrics).
  nfr::v1::AgentStatus Status() const;

  int tcp_port() const { return tcp_port_; }  // 0 without TCP
  const std::string& unix_socket() const { return unix_socket_; }

 private:
  ApiServer();

  std::unique_ptr<RoleMapper> roles_;
  std::unique_ptr<PeerRegistry> peers_;
  std::unique_ptr<BlockingExecutor> executor_;
  std::unique_ptr<MemoryTrimmer> trimmer_;
  std::unique_ptr<StreamGate> streams_;
  std::unique_ptr<CallRate> changes_;
  std::unique_ptr<ApiContext> ctx_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<UnixListener> unix_;
  std::unique_ptr<grpc::Server> server_;
  int tcp_port_ = 0;
  std::string unix_socket_;
  bool stopped_ = false;
};

}  // namespace nfr
