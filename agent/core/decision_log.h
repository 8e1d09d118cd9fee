// The decision log: every decision gets its id and time here and is written
// to the store, durably before returning for controller decisions and through
// the bounded asynchronous writer for the datapath's own (never blocking).
#pragma once

#include "absl/status/statusor.h"
#include "agent/store/store.h"
#include "nfr/v1/decision_service.pb.h"
#include "nfr/v1/flow.pb.h"

namespace nfr {

inline constexpr size_t kMaxReasonBytes = 512;  // a decision's free-text reason
inline constexpr uint32_t kDefaultDecisionPageSize = 100;
inline constexpr uint32_t kMaxDecisionPageSize = 1000;

class DecisionLog {
 public:
  explicit DecisionLog(Store* store) : store_(store) {}

  // An id for a decision about to be made (its flow-cache entry names it).
  uint64_t NextId() { return store_->NextDecisionId(); }
  // Queued for the writer; counted as overflow when it is full. Returns the record.
  nfr::v1::Decision Record(nfr::v1::Decision decision);
  // On disk when OK.
  absl::StatusOr<nfr::v1::Decision> RecordDurable(nfr::v1::Decision decision);

  // One page, newest first (INVALID_ARGUMENT naming a bad filter, size or token).
  absl::StatusOr<nfr::v1::ListDecisionsResponse> List(const nfr::v1::ListDecisionsRequest& request);
  // Ids above `after_id`, oldest first (what the controller link uploads).
  absl::StatusOr<std::vector<nfr::v1::Decision>> After(uint64_t after_id, uint32_t limit) {
    return store_->DecisionsAfter(after_id, limit);
  }
  StoreStats stats() const { return store_->stats(); }
  // Waits until queued records are on disk.
  void Flush() { store_->Flush(); }

 private:
  void Stamp(nfr::v1::Decision& decision);

  Store* const store_;
};

}  // namespace nfr
