#include "ctl/connect.h"

#include <grpcpp/support/client_interceptor.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace nfrctl {
namespace {

// Replies as large as a policy with 2M set prefixes.
constexpr int kMaxReceiveBytes = 512 << 20;

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    default:
      return "ERROR";
  }
}

// Adds `nfr-agent-id` to every call: nfr-fleetd routes it to that agent.
class AgentIdInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit AgentIdInterceptor(const std::string& id) : id_(id) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      m->GetSendInitialMetadata()->insert({"nfr-agent-id", id_});
    }
    m->Proceed();
  }

 private:
  const std::string id_;
};

class AgentIdFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit AgentIdFactory(std::string id) : id_(std::move(id)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new AgentIdInterceptor(id_);
  }

 private:
  const std::string id_;
};

std::shared_ptr<grpc::Channel> Channel(const Args& args, const std::string& target,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                       const grpc::ChannelArguments& ch) {
  if (!args.Has("agent")) return grpc::CreateCustomChannel(target, creds, ch);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> f;
  f.push_back(std::make_unique<AgentIdFactory>(args.Get("agent")));
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, creds, ch, std::move(f));
}

}  // namespace

std::shared_ptr<grpc::Channel> Connect(const Args& args, std::string* error) {
  std::string target = args.Get("target", kDefaultTarget);
  const bool unix_target = target.rfind("unix:", 0) == 0;
  grpc::ChannelArguments ch;
  ch.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  if (unix_target) {
    if (args.Has("ca") || args.Has("cert") || args.Has("key")) {
      *error = "--ca/--cert/--key apply to host:port targets, not " + target;
      return nullptr;
    }
    return Channel(args, target, grpc::InsecureChannelCredentials(), ch);
  }
  if (args.Has("insecure")) {
    if (args.Has("cert") || args.Has("key")) {
      *error = "--insecure and --cert/--key exclude each other";
      return nullptr;
    }
    return Channel(args, target, grpc::InsecureChannelCredentials(), ch);
  }
  grpc::SslCredentialsOptions tls;
  if (args.Has("ca") && !ReadFile(args.Get("ca"), &tls.pem_root_certs)) {
    *error = "--ca: cannot read " + args.Get("ca");
    return nullptr;
  }
  if (args.Has("cert") != args.Has("key")) {
    *error = "--cert and --key go together (the agent requires a client certificate)";
    return nullptr;
  }
  if (args.Has("cert")) {
    if (!ReadFile(args.Get("cert"), &tls.pem_cert_chain)) {
      *error = "--cert: cannot read " + args.Get("cert");
      return nullptr;
    }
    if (!ReadFile(args.Get("key"), &tls.pem_private_key)) {
      *error = "--key: cannot read " + args.Get("key");
      return nullptr;
    }
  }
  if (args.Has("server-name")) {
    ch.SetSslTargetNameOverride(args.Get("server-name"));
  }
  return Channel(args, target, grpc::SslCredentials(tls), ch);
}

void SetDeadline(const Args& args, grpc::ClientContext* ctx) {
  absl::Duration d = absl::Seconds(10);
  if (args.Has("timeout")) absl::ParseDuration(args.Get("timeout"), &d);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::microseconds(absl::ToInt64Microseconds(d)));
}

int ReportRpcError(const std::string& what, const grpc::Status& status, const Args& args) {
  std::fprintf(stderr, "nfrctl: %s: %s: %s\n", what.c_str(), CodeName(status.error_code()),
               status.error_message().c_str());
  switch (status.error_code()) {
    case grpc::NOT_FOUND:
      return kExitNotFound;
    case grpc::PERMISSION_DENIED:
    case grpc::UNAUTHENTICATED:
      return kExitPermission;
    case grpc::INVALID_ARGUMENT:
    case grpc::OUT_OF_RANGE:
      return kExitInvalid;
    case grpc::FAILED_PRECONDITION:
    case grpc::ALREADY_EXISTS:
    case grpc::ABORTED:
      return kExitConflict;
    case grpc::RESOURCE_EXHAUSTED:
      if (status.error_message().find("larger than max") != std::string::npos) {
        std::fprintf(stderr,
                     "nfrctl: the message is over a size limit: the agent's "
                     "api.limits.max_message_bytes (default 80 MiB) for requests, nfrctl's %d MiB "
                     "for replies; split the change (several set add/import calls) or raise the "
                     "agent's limit\n",
                     kMaxReceiveBytes >> 20);
      }
      return kExitLimit;
    case grpc::UNAVAILABLE:
      // The agent closes a connection over api.limits.max_connections(_per_peer) right after a
      // GOAWAY naming the limit; gRPC reports only the closed socket.
      if (status.error_message().find("Broken pipe") != std::string::npos ||
          status.error_message().find("Socket closed") != std::string::npos) {
        std::fprintf(stderr,
                     "nfrctl: the agent closed the connection at once: it may be over its "
                     "api.limits.max_connections or max_connections_per_peer (its log names the "
                     "limit); close idle clients or raise the limit\n");
        return kExitRpc;
      }
      // Over the agent's TCP connection cap, the kernel resets the SYN: that reads as refused.
      if (status.error_message().find("Connection refused") != std::string::npos &&
          args.Get("target", kDefaultTarget).rfind("unix:", 0) != 0) {
        std::fprintf(
            stderr,
            "nfrctl: the connection to %s was refused: nothing listens there, or the "
            "agent's TCP connection cap is full (api.limits.max_connections_per_peer "
            "from one address or IPv6 /64, max_connections in all; `nfrctl status` on the agent's "
            "Unix socket shows it); close idle clients or raise the limit\n",
            args.Get("target", kDefaultTarget).c_str());
        return kExitRpc;
      }
      std::fprintf(stderr,
                   "nfrctl: is nfr-agent running and reachable at %s? (set --target; TCP "
                   "targets need --ca/--cert/--key or --insecure)\n",
                   args.Get("target", kDefaultTarget).c_str());
      return kExitRpc;
    default:
      return kExitRpc;
  }
}

}  // namespace nfrctl
