// nfr-fleetd's own SQLite file: agents seen, decisions they uploaded (one row
// per agent id + decision id), group policies by selector and the rollout
// history. One connection, serialized; WAL.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/store/sqlite_db.h"
#include "nfr/v1/fleet.pb.h"

namespace nfr {

struct StoredAgent {
  std::string id;
  std::string labels_json;
  std::string version;
  int64_t last_seen_us = 0;
};

class FleetStore {
 public:
  static absl::StatusOr<std::unique_ptr<FleetStore>> Open(const std::string& path);

  absl::Status SeeAgent(const nfr::v1::FleetAgent& agent);
  std::vector<nfr::v1::FleetAgent> Agents();

  // Stores what is new; returns how many were duplicates (already stored).
  absl::StatusOr<uint64_t> AddDecisions(const std::string& agent_id,
                                        const std::vector<nfr::v1::Decision>& decisions);
  uint64_t MaxDecisionId(const std::string& agent_id);
  absl::StatusOr<std::vector<nfr::v1::Decision>> Decisions(const std::string& agent_id,
                                                           uint64_t after_id, uint32_t limit);

  // 0 when the selector has no group policy yet.
  uint64_t GroupVersion(const std::string& selector);
  // Stores the group policy as `version` and the rollout; returns the rollout id.
  absl::StatusOr<uint64_t> RecordRollout(const nfr::v1::RolloutRecord& record,
                                         const nfr::v1::Policy& policy,
                                         const nfr::v1::RolloutResponse& results);
  std::vector<nfr::v1::RolloutRecord> Rollouts(uint32_t limit);

 private:
  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace nfr
