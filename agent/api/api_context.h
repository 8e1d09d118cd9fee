// State shared by the gRPC service implementations: the control core, caller
// identification and the executor for calls that may block.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/api/blocking_executor.h"
#include "agent/api/peer_registry.h"
#include "agent/api/roles.h"
#include "agent/core/core.h"
#include "nfr/v1/agent_service.pb.h"

namespace nfr {

struct ApiContext {
  Core* core = nullptr;
  const RoleMapper* roles = nullptr;
  PeerRegistry* peers = nullptr;
  BlockingExecutor* executor = nullptr;
  size_t watcher_queue = 1024;
  bool insecure_tcp = false;
  std::atomic<uint64_t> events_lost{0};  // dropped for slow watchers
  absl::Time started = absl::Now();
  std::function<void(nfr::v1::AgentStatus*)> status_extra;  // e.g. the controller link's state

  Caller Identify(const grpc::CallbackServerContext& ctx) const;
};

grpc::Status ToGrpc(const absl::Status& s);

// Runs `work` on the blocking executor and finishes the call with its status.
// The request, response and context stay valid until then.
grpc::ServerUnaryReactor* FinishBlocking(ApiContext& api, grpc::CallbackServerContext* ctx,
                                         std::function<absl::Status()> work);

// Identifies the caller and checks its role; a non-OK status is the reply.
absl::Status Authorize(const ApiContext& api, const grpc::CallbackServerContext& ctx, Role need,
                       absl::string_view method, Caller* caller);

}  // namespace nfr
