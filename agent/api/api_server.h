// Starts the control-plane API of nfr-agent: opens the store, restores the
// last policy, serves PolicyService, ConnectionService, DecisionService,
// AgentService, grpc.health.v1 and reflection on the Unix socket and
// (optionally) TCP with mTLS. event_sink() must be given to the runtime.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/runtime/agent_control.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

inline constexpr char kApiDefaultUnixSocket[] = "/run/nfr/agent.sock";

struct ApiServerOptions {
  size_t watcher_queue = 1024;  // events buffered per watcher before loss
  size_t hub_capacity = 65536;  // events buffered between producers and watchers
};

class Store;
class EventHub;
struct ApiContext;
class UnixListener;
class RoleMapper;
class PeerRegistry;
class BlockingExecutor;

class ApiServer {
 public:
  // `control` must outlive the server. Restores the stored policy into
  // `control` (or stores its current policy as version 1 on first start).
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(AgentControl* control,
                                                          const nfr::v1::ApiConfig& api,
                                                          const nfr::v1::StoreConfig& store,
                                                          ApiServerOptions options = {});
  ~ApiServer();  // Stop()

  // Give this to the verdict engine; valid until the ApiServer is destroyed.
  EventSink* event_sink();
  // Ends watch streams, stops listening. Call before the runtime goes away.
  void Stop();

  // Waits until events received so far reached watchers and the decision
  // log is on disk (tests, shutdown).
  void Flush();

  int tcp_port() const { return tcp_port_; }  // 0 without TCP
  const std::string& unix_socket() const { return unix_socket_; }
  Store* store();

 private:
  ApiServer();

  std::unique_ptr<Store> store_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<RoleMapper> roles_;
  std::unique_ptr<PeerRegistry> peers_;
  std::unique_ptr<BlockingExecutor> executor_;
  std::unique_ptr<ApiContext> ctx_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<UnixListener> unix_;
  std::unique_ptr<grpc::Server> server_;
  int tcp_port_ = 0;
  std::string unix_socket_;
  bool stopped_ = false;
};

}  // namespace nfr
