// State shared by the gRPC service implementations: the control core, caller
// identification and the executor for calls that may block.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/api/api_limits.h"
#include "agent/api/blocking_executor.h"
#include "agent/api/peer_registry.h"
#include "agent/api/roles.h"
#include "agent/api/unix_listener.h"
#include "agent/core/core.h"
#include "nfr/v1/agent_service.pb.h"

namespace nfr {

struct ApiContext {
  Core* core = nullptr;
  const RoleMapper* roles = nullptr;
  PeerRegistry* peers = nullptr;
  BlockingExecutor* executor = nullptr;
  size_t watcher_queue = 1024;
  size_t snapshot_max = 1024;  // api.limits.snapshot_max, at most watcher_queue
  bool insecure_tcp = false;
  StreamGate* streams = nullptr;     // api.limits.max_streams(_per_peer)
  CallRate* changes = nullptr;       // api.limits.changes_per_second
  MemoryTrimmer* trimmer = nullptr;  // told after a policy change
  UnixListener::Counters connections;
  std::atomic<uint64_t> events_lost{0};  // dropped for slow watchers
  absl::Time started = absl::Now();
  std::function<void(nfr::v1::AgentStatus*)> status_extra;  // e.g. the controller link's state

  Caller Identify(const grpc::CallbackServerContext& ctx) const;
};

// The message is cut by BoundErrorMessage (no long echoed values).
grpc::Status ToGrpc(const absl::Status& s);

// Runs `work` on the blocking executor and finishes the call with its status.
// The request, response and context stay valid until then.
grpc::ServerUnaryReactor* FinishBlocking(ApiContext& api, grpc::CallbackServerContext* ctx,
                                         std::function<absl::Status()> work);

// Who a per-peer limit counts: the caller identity, without the port of an
// insecure-TCP peer.
std::string PeerKey(const Caller& caller);

// Identifies the caller and checks its role; a non-OK status is the reply.
absl::Status Authorize(const ApiContext& api, const grpc::CallbackServerContext& ctx, Role need,
                       absl::string_view method, Caller* caller);

}  // namespace nfr
