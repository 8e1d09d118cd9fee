// The RPC steps every nfrctl verb shares: connect per the global flags, call
// with the --timeout deadline or read a stream, and report a failure.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "ctl/args.h"
#include "ctl/connect.h"

namespace nfrctl {

template <typename Stub, typename Req, typename Resp>
using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Req&, Resp*);

template <typename Stub, typename Req, typename Event>
using StreamMethod = std::unique_ptr<grpc::ClientReader<Event>> (Stub::*)(grpc::ClientContext*,
                                                                          const Req&);

// Prints "nfrctl: MSG (see --help)"; returns kExitUsage.
inline int Usage(const std::string& msg) {
  std::fprintf(stderr, "nfrctl: %s (see --help)\n", msg.c_str());
  return kExitUsage;
}

// A stub on a new channel; nullptr after printing why the flags do not connect.
template <typename Stub>
std::unique_ptr<Stub> Dial(const Args& args) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = Connect(args, &error);
  if (channel == nullptr) {
    Usage(error);
    return nullptr;
  }
  return std::make_unique<Stub>(channel);
}

// One unary call on `stub` with the --timeout deadline.
template <typename Stub, typename Req, typename Resp>
grpc::Status Call(const Args& args, Stub& stub, UnaryMethod<Stub, Req, Resp> method,
                  const std::type_identity_t<Req>& req, Resp* resp) {
  grpc::ClientContext ctx;
  SetDeadline(args, &ctx);
  return (stub.*method)(&ctx, req, resp);
}

// Connects and calls once; kExitOk, or the exit code after reporting `what`
// failed.
template <typename Stub, typename Req, typename Resp>
int CallUnary(const Args& args, const std::string& what, UnaryMethod<Stub, Req, Resp> method,
              const std::type_identity_t<Req>& req, Resp* resp) {
  std::unique_ptr<Stub> stub = Dial<Stub>(args);
  if (stub == nullptr) return kExitUsage;
  grpc::Status s = Call(args, *stub, method, req, resp);
  return s.ok() ? kExitOk : ReportRpcError(what, s, args);
}

// Reads a server stream (no deadline) until `on_event` returns false, which
// cancels it, or the agent ends it. Our own cancel is not an error.
template <typename Stub, typename Req, typename Event>
int ReadStream(const Args& args, const std::string& what, Stub& stub,
               StreamMethod<Stub, Req, Event> method, const std::type_identity_t<Req>& req,
               std::type_identity_t<absl::FunctionRef<bool(const Event&)>> on_event) {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<Event>> reader = (stub.*method)(&ctx, req);
  Event e;
  while (reader->Read(&e)) {
    if (!on_event(e)) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::CANCELLED) return ReportRpcError(what, s, args);
  return kExitOk;
}

}  // namespace nfrctl
