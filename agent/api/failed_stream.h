// A server-streaming reactor that ends at once with an error status (used
// when a watch request is refused before streaming starts).
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "agent/api/api_limits.h"

namespace nfr {

template <typename Msg>
class FailedStream : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedStream(const absl::Status& s) {
    this->Finish(
        grpc::Status(static_cast<grpc::StatusCode>(s.code()), BoundErrorMessage(s.message())));
  }
  void OnDone() override { delete this; }
};

}  // namespace nfr
