#include "agent/core/decision_log.h"

#include "absl/strings/str_cat.h"
#include "agent/util/proto_time.h"

namespace nfr {

void DecisionLog::Stamp(nfr::v1::Decision& d) {
  if (d.id() == 0) d.set_id(store_->NextDecisionId());
  if (!d.has_time()) *d.mutable_time() = ToProtoTime(absl::Now());
}

nfr::v1::Decision DecisionLog::Record(nfr::v1::Decision decision) {
  Stamp(decision);
  store_->EnqueueDecision(decision);
  return decision;
}

absl::StatusOr<nfr::v1::Decision> DecisionLog::RecordDurable(nfr::v1::Decision decision) {
  Stamp(decision);
  if (absl::Status s = store_->AppendDecision(decision); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("the verdict was applied but could not be logged: ", s.message()));
  }
  return decision;
}

}  // namespace nfr
