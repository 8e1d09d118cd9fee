#include "agent/api/api_server.h"

#ifndef NFR_NO_GRPC_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "agent/api/agent_service.h"
#include "agent/api/api_context.h"
#include "agent/api/api_limits.h"
#include "agent/api/blocking_executor.h"
#include "agent/api/connection_service.h"
#include "agent/api/decision_service.h"
#include "agent/api/flow_service.h"
#include "agent/api/peer_registry.h"
#include "agent/api/policy_service.h"
#include "agent/api/roles.h"
#include "agent/api/tls_credentials.h"
#include "agent/api/unix_listener.h"
#include "agent/config/config_defaults.h"

namespace nfr {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(
    const nfr::v1::ApiConfig& api) {
  const nfr::v1::TlsConfig& tls = api.tls();
  const bool any_tls =
      !tls.cert_file().empty() || !tls.key_file().empty() || !tls.client_ca_file().empty();
  if (!any_tls) {
    if (api.insecure_tcp()) return grpc::InsecureServerCredentials();
    return absl::InvalidArgumentError(absl::StrCat(
        "api.tcp_listen ", api.tcp_listen(),
        " needs mTLS: set api.tls.cert_file, key_file and client_ca_file (or, for labs only, "
        "api.insecure_tcp)"));
  }
  if (tls.cert_file().empty() || tls.key_file().empty() || tls.client_ca_file().empty()) {
    return absl::InvalidArgumentError(
        "api.tls: cert_file, key_file and client_ca_file are all required for mTLS");
  }
  return MutualTlsServerCredentials(tls, "api.tls");
}

}  // namespace

ApiServer::ApiServer() = default;

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(Core* core,
                                                            const nfr::v1::ApiConfig& api,
                                                            ApiServerOptions options) {
  if (absl::Status v = ValidateRoleBindings(api); !v.ok()) return v;
  nfr::v1::ApiLimitsConfig limits = api.limits();
  ApplyApiLimitDefaults(limits);
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->trimmer_ = std::make_unique<MemoryTrimmer>();
  s->streams_ = std::make_unique<StreamGate>(limits.max_streams(), limits.max_streams_per_peer(),
                                             s->trimmer_.get());
  s->changes_ = std::make_unique<CallRate>(limits.changes_per_second(), limits.changes_burst());
  s->roles_ = std::make_unique<RoleMapper>(api);
  s->peers_ = std::make_unique<PeerRegistry>();
  s->executor_ = std::make_unique<BlockingExecutor>(4);
  s->ctx_ = std::make_unique<ApiContext>();
  ApiContext& ctx = *s->ctx_;
  ctx.core = core;
  ctx.roles = s->roles_.get();
  ctx.peers = s->peers_.get();
  ctx.executor = s->executor_.get();
  ctx.watcher_queue = options.watcher_queue;
  ctx.snapshot_max = std::min<size_t>(limits.snapshot_max(), options.watcher_queue);
  ctx.streams = s->streams_.get();
  ctx.trimmer = s->trimmer_.get();
  ctx.changes = s->changes_.get();
  ctx.status_extra = options.status_extra;
  ctx.insecure_tcp = api.insecure_tcp();

  s->unix_socket_ = api.unix_socket();
  if (s->unix_socket_ == "-") s->unix_socket_.clear();
  if (!s->unix_socket_.empty()) {
    absl::StatusOr<std::unique_ptr<UnixListener>> u = UnixListener::Bind(
        s->unix_socket_, api.socket_group());
    if (!u.ok()) return u.status();
    s->unix_ = std::move(*u);
  }

  grpc::EnableDefaultHealthCheckService(true);
#ifndef NFR_NO_GRPC_REFLECTION  // the router profile leaves reflection out (size)
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<uint32_t>(limits.max_message_bytes(), std::numeric_limits<int>::max())));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(limits.handshake_timeout_ms()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(limits.idle_timeout_ms()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             std::max(100, static_cast<int>(limits.max_streams_per_peer()) + 16));
  if (!api.tcp_listen().empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = TcpCredentials(api);
    if (!creds.ok()) return creds.status();
    builder.AddListeningPort(api.tcp_listen(), *creds, &s->tcp_port_);
  }
  s->services_.push_back(std::make_unique<PolicyServiceImpl>(ctx));
  s->services_.push_back(std::make_unique<ConnectionServiceImpl>(ctx));
  s->services_.push_back(std::make_unique<DecisionServiceImpl>(ctx));
  s->services_.push_back(std::make_unique<FlowServiceImpl>(ctx));
  s->services_.push_back(std::make_unique<AgentServiceImpl>(ctx));
  for (auto& svc : s->services_) builder.RegisterService(svc.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot start the gRPC server", api.tcp_listen().empty() ? "" : " on ",
                     api.tcp_listen(), "; check the address is free and valid (host:port)"));
  }
  if (!api.tcp_listen().empty() && s->tcp_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on api.tcp_listen ", api.tcp_listen(),
                                               "; is the port in use?"));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  if (s->unix_) {
    UnixListener::Limits ul;
    ul.max_connections = limits.max_connections();
    ul.max_per_peer = limits.max_connections_per_peer();
    ul.preface_timeout = std::chrono::milliseconds(limits.handshake_timeout_ms());
    s->unix_->Serve(s->server_.get(), s->roles_.get(), s->peers_.get(), ul, &ctx.connections);
  }
  return s;
}

void ApiServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (unix_) unix_->Stop();
  if (server_) server_->GetHealthCheckService()->SetServingStatus(false);
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (server_) server_->Wait();
  executor_.reset();  // after Wait: every call it was running has finished
  unix_.reset();
}

ApiServer::~ApiServer() { Stop(); }

nfr::v1::AgentStatus ApiServer::Status() const { return ApiStatusReport(*ctx_); }

}  // namespace nfr
