// nfrctl's connection to nfr-agent: --target (unix:///path or host:port),
// TLS client certificate flags, deadlines, and gRPC status -> exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "ctl/args.h"

namespace nfrctl {

inline constexpr char kDefaultTarget[] = "unix:///run/nfr/agent.sock";

// nullptr and `error` set when the flags are inconsistent or files unreadable.
std::shared_ptr<grpc::Channel> Connect(const Args& args, std::string* error);

// Sets the deadline from --timeout (default 10s).
void SetDeadline(const Args& args, grpc::ClientContext* ctx);

// Prints "nfrctl: WHAT: CODE: message" (plus a hint) to stderr; returns the
// exit code for `status`.
int ReportRpcError(const std::string& what, const grpc::Status& status, const Args& args);

}  // namespace nfrctl
