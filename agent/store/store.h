// Durable agent state in one SQLite file (WAL, synchronous=FULL): policy
// versions (the agent restarts into the latest; history bounded by count and
// bytes) and the decision log with bounded retention. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/store/decision_writer.h"
#include "agent/store/ip_range.h"
#include "agent/store/retention.h"
#include "agent/store/sqlite_db.h"
#include "nfr/v1/config.pb.h"
#include "nfr/v1/flow.pb.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

inline constexpr size_t kDecisionWriterCapacity = 65536;

struct DecisionQuery {
  std::optional<absl::Time> since;                                        // inclusive
  std::optional<absl::Time> until;                                        // exclusive
  nfr::v1::Verdict verdict = nfr::v1::VERDICT_UNSPECIFIED;                // any
  nfr::v1::DecisionSource source = nfr::v1::DECISION_SOURCE_UNSPECIFIED;  // any
  std::optional<AddrRange> prefix;  // source or destination inside
  uint32_t limit = 100;
  uint64_t before_id = 0;  // 0 = start at the newest
};

struct DecisionPage {
  std::vector<nfr::v1::Decision> decisions;  // newest first
  uint64_t next_before_id = 0;               // 0 = no more
};

struct StoreStats {
  uint64_t decisions_logged = 0;
  uint64_t decision_log_overflow = 0;
  uint64_t decision_log_errors = 0;
};

class Store {
 public:
  // `config` has defaults applied (agent/config). Creates the parent directory
  // and the file as needed, migrates the schema.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const nfr::v1::StoreConfig& config);
  ~Store();  // writes buffered decisions

  // nullopt when no policy was ever saved.
  absl::StatusOr<std::optional<nfr::v1::Policy>> LatestPolicy();
  // Durable on return. ALREADY_EXISTS when policy.version is taken.
  absl::Status SavePolicy(const nfr::v1::Policy& policy, absl::string_view author,
                          absl::string_view comment);

  // Decision ids are assigned here so streamed and logged records agree.
  uint64_t NextDecisionId() { return next_id_.fetch_add(1); }
  // Synchronous and durable (controller decisions). Assigns id/time if unset.
  absl::Status AppendDecision(nfr::v1::Decision& decision);
  // Asynchronous, never blocks on I/O; false when the writer is full.
  bool EnqueueDecision(nfr::v1::Decision decision);
  void Flush();

  absl::StatusOr<DecisionPage> ListDecisions(const DecisionQuery& query);
  // Ids above `after_id`, oldest first, at most `limit` (the controller link's upload).
  absl::StatusOr<std::vector<nfr::v1::Decision>> DecisionsAfter(uint64_t after_id, uint32_t limit);
  // Applies retention now (also done periodically by writes).
  absl::Status Prune();

  StoreStats stats() const;
  const std::string& path() const { return path_; }

 private:
  Store(std::string path, uint32_t max_decisions, absl::Duration max_age,
        const nfr::v1::StoreConfig& config)
      : path_(std::move(path)),
        max_decisions_(max_decisions),
        max_age_(max_age),
        max_policy_versions_(config.max_policy_versions() ? config.max_policy_versions()
                                                          : kDefaultMaxPolicyVersions),
        max_policy_history_bytes_(int64_t{config.max_policy_history_mib()
                                              ? config.max_policy_history_mib()
                                              : kDefaultMaxPolicyHistoryMib}
                                  << 20) {}
  absl::Status WriteDecisions(const std::vector<nfr::v1::Decision>& batch);
  absl::Status InsertLocked(const nfr::v1::Decision& d);
  absl::Status PruneLocked();
  absl::Status PrunePoliciesLocked();

  const std::string path_;
  const uint32_t max_decisions_;
  const absl::Duration max_age_;
  const uint32_t max_policy_versions_;
  const int64_t max_policy_history_bytes_;
  std::mutex write_mu_;  // guards writer_db_
  std::unique_ptr<SqliteDb> writer_db_;
  std::optional<SqliteStatement> insert_;  // the decision INSERT, prepared once (under write_mu_)
  std::mutex read_mu_;  // guards reader_db_
  std::unique_ptr<SqliteDb> reader_db_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> sync_written_{0};
  uint64_t inserts_since_prune_ = 0;              // under write_mu_
  absl::Time last_prune_ = absl::InfinitePast();  // under write_mu_
  std::unique_ptr<DecisionWriter> async_;
};

}  // namespace nfr
