// nfr-fleetd's own SQLite file: agents seen, decisions they uploaded (one row
// per agent id + decision id), group policies by selector and the rollout
// history. One connection, serialized; WAL.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/store/sqlite_db.h"
#include "nfr/v1/fleet.pb.h"

namespace nfr {

// A selector's group policy, without the policy itself.
struct GroupHead {
  std::string selector;
  uint64_t version = 0;
  uint64_t rollout_id = 0;  // the rollout that set it (0 = before this was kept)
};

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
  // Each ok result records that agent as holding the group version.
  absl::StatusOr<uint64_t> RecordRollout(const nfr::v1::RolloutRecord& record,
                                         const nfr::v1::Policy& policy,
                                         const nfr::v1::RolloutResponse& results);
  // A rollout of the stored group policy to agents that lacked it (catch-up on
  // attach): history and per-agent state only; the group policy is unchanged.
  absl::StatusOr<uint64_t> RecordCatchUp(const nfr::v1::RolloutRecord& record,
                                         const nfr::v1::RolloutResponse& results);
  // Every selector's group policy head, the most recently rolled out first.
  std::vector<GroupHead> GroupHeads();
  // NOT_FOUND when the selector's group policy is no longer at `version`.
  absl::StatusOr<nfr::v1::Policy> GroupPolicy(const std::string& selector, uint64_t version);
  // selector -> group version the agent applied last (ok results only).
  std::map<std::string, uint64_t> AgentGroups(const std::string& agent_id);
  std::vector<nfr::v1::RolloutRecord> Rollouts(uint32_t limit);

 private:
  absl::StatusOr<uint64_t> RecordLocked(const nfr::v1::RolloutRecord& record,
                                        const nfr::v1::Policy* policy,
                                        const nfr::v1::RolloutResponse& results);
  absl::Status BackfillAgentGroups();

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace nfr
