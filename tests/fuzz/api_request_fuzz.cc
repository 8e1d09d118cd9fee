// libFuzzer target: the validators of API requests, fed binary protobuf as the gRPC server
// would: the first byte picks the request (AddRule's rule, ListPending's and ListDecisions'
// filters).
#include <cstddef>
#include <cstdint>

#include "agent/core/flow_filter.h"
#include "agent/policy/policy_validation.h"
#include "google/protobuf/stubs/logging.h"
#include "nfr/v1/connection_service.pb.h"
#include "nfr/v1/decision_service.pb.h"
#include "nfr/v1/policy_service.pb.h"

// Invalid UTF-8 in string fields is an ordinary parse failure; do not log each one.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t* body = data + 1;
  const int len = static_cast<int>(size - 1);
  switch (data[0] % 3) {
    case 0: {
      nfr::v1::AddRuleRequest r;
      if (r.ParseFromArray(body, len)) (void)nfr::ValidateRule(r.rule(), "rule");
      break;
    }
    case 1: {
      nfr::v1::ListPendingRequest r;
      if (r.ParseFromArray(body, len)) (void)nfr::PendingFilterFrom(r.filter());
      break;
    }
    default: {
      nfr::v1::ListDecisionsRequest r;
      if (r.ParseFromArray(body, len)) (void)nfr::DecisionFilterFrom(r.filter());
      break;
    }
  }
  return 0;
}
