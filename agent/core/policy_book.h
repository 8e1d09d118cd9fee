// The policy lifecycle: the current version, every change (apply, add/remove
// rule, a rule derived from a pending connection) guarded by an expected
// version, compiled, stored, then installed into the agent (a store failure
// changes nothing); restore-or-seed at start. Errors name the request field.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/policy/set_delta.h"
#include "agent/runtime/agent_control.h"
#include "agent/store/store.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

// Default bound of one serialized policy version (api.limits.max_policy_bytes):
// room for a 1M-prefix set.
inline constexpr size_t kMaxPolicyBytes = 64u << 20;

// Who changes the policy and why; stored with the new version.
struct PolicyChange {
  std::optional<uint64_t> expected_version;  // FAILED_PRECONDITION when stale
  std::string author;
  std::string comment;
};

class PolicyBook {
 public:
  PolicyBook(AgentControl* agent, Store* store, size_t max_policy_bytes = kMaxPolicyBytes)
      : agent_(agent), store_(store), max_policy_bytes_(max_policy_bytes) {}

  // Installs the latest stored version, or stores the agent's policy as version 1.
  absl::Status RestoreOrSeed();

  nfr::v1::Policy Current() const { return agent_->GetPolicy(); }
  uint64_t CurrentVersion() const { return agent_->PolicyVersion(); }

  // Each returns the policy now installed (its version is the previous + 1).
  absl::StatusOr<nfr::v1::Policy> Apply(const nfr::v1::Policy& policy, const PolicyChange& change);
  // `position` past the end (or unset) appends.
  absl::StatusOr<nfr::v1::Policy> AddRule(const nfr::v1::Rule& rule,
                                          std::optional<uint32_t> position,
                                          const PolicyChange& change);
  absl::StatusOr<nfr::v1::Policy> RemoveRule(const std::string& rule_id,
                                             const PolicyChange& change);

  // A named set changed by delta (set_delta.h); `result` gets the counts.
  struct SetDelta {
    std::string name;
    std::vector<std::string> add, remove;  // prefixes
    std::vector<nfr::v1::PortRange> add_ports, remove_ports;
  };
  absl::StatusOr<nfr::v1::Policy> UpdateSet(const SetDelta& delta, const PolicyChange& change,
                                            SetDeltaResult* result);

  struct DerivedRule {
    nfr::v1::Rule rule;
    nfr::v1::Policy policy;
  };
  // Inserts first a rule matching `pending`'s flow (source and destination host,
  // destination port, interface, direction); id `decided-<pending id>[-n]`
  // unless `rule_id` is given.
  absl::StatusOr<DerivedRule> AddRuleForPending(const nfr::v1::PendingConnection& pending,
                                                nfr::v1::Verdict verdict,
                                                const std::string& rule_id,
                                                const std::string& author,
                                                const std::string& reason);

 private:
  // Turns `next` (a copy of the current policy) into the new one in place;
  // returns the stored comment. On error `next` is discarded.
  using Edit = std::function<absl::StatusOr<std::string>(nfr::v1::Policy* next)>;
  absl::StatusOr<nfr::v1::Policy> Change(const PolicyChange& change, const Edit& edit);
  // Compiles, stores, then installs `next`; nothing changes unless all succeed.
  absl::StatusOr<nfr::v1::Policy> Commit(uint64_t current_version, nfr::v1::Policy next,
                                         const std::string& author, absl::string_view comment);

  AgentControl* const agent_;
  Store* const store_;
  const size_t max_policy_bytes_;
  std::mutex mu_;  // serializes read-modify-write of the policy
};

// Schema, limits and the serialized size (RESOURCE_EXHAUSTED naming
// api.limits.max_policy_bytes when over `max_bytes`); `field` is where the policy sits.
absl::Status ValidatePolicyChange(const nfr::v1::Policy& policy, absl::string_view field,
                                  size_t max_bytes = kMaxPolicyBytes);

}  // namespace nfr
