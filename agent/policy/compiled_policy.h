// An immutable, validated policy ready for matching (first match wins), and a
// holder that swaps snapshots atomically so queue threads never wait on a lock.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/packet/packet_parser.h"
#include "agent/policy/rule_index.h"
#include "nfr/v1/flow.pb.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

struct PolicyMatch {
  nfr::v1::Action action = nfr::v1::ACTION_UNSPECIFIED;  // ACCEPT, DROP or ASK
  std::string rule_id;  // empty: no rule matched, the default verdict applies
  absl::Duration ttl;   // flow-cache lifetime for ACCEPT/DROP
  int rule_index = -1;  // 0-based index of the matched rule in policy().rules(); -1: default
};

// PolicyMatch without the rule id copy, for the per-packet path.
struct RuleHit {
  nfr::v1::Action action = nfr::v1::ACTION_UNSPECIFIED;
  absl::Duration ttl;
  int rule_index = -1;  // -1: the default verdict
};

class CompiledPolicy {
 public:
  // Validates (INVALID_ARGUMENT naming the field, after `field_prefix`) and compiles.
  static absl::StatusOr<std::shared_ptr<const CompiledPolicy>> Compile(
      nfr::v1::Policy policy, absl::string_view field_prefix = "");

  // First matching rule, or the default verdict. Cost does not grow with the
  // number of rules or set entries (see rule_index.h).
  PolicyMatch Match(const PacketInfo& packet, absl::string_view interface,
                    nfr::v1::Direction direction) const;

  RuleHit Hit(const PacketInfo& packet, absl::string_view interface,
              nfr::v1::Direction direction) const;
  // The id of rule `index`; "" for -1 (the default verdict).
  absl::string_view rule_id(int index) const {
    return index < 0 ? absl::string_view() : absl::string_view(policy_.rules(index).id());
  }

  // The policy without its sets' prefixes (rules, version, defaults, port sets): what the
  // per-packet path reads. FullPolicy() rebuilds the prefixes as they were written.
  const nfr::v1::Policy& policy() const { return policy_; }
  nfr::v1::Policy FullPolicy() const;
  uint64_t version() const { return policy_.version(); }
  nfr::v1::Verdict default_verdict() const { return policy_.default_verdict(); }
  absl::Duration pending_timeout() const { return pending_timeout_; }
  absl::Duration flow_ttl() const { return flow_ttl_; }
  size_t index_bytes() const { return index_.MemoryBytes(); }  // lookup structures only
  const RuleIndex& index() const { return index_; }

 private:
  struct Outcome {
    nfr::v1::Action action;
    absl::Duration ttl;
  };

  // A set's prefixes as written, in one buffer rather than a string object each
  // (a 1M-prefix set: ~25 MiB instead of ~95 MiB).
  struct PackedPrefixes {
    std::string name;
    std::string text;            // concatenated
    std::vector<uint32_t> ends;  // end offset of each prefix in `text`
  };

  nfr::v1::Policy policy_;  // set prefixes moved into packed_sets_
  std::vector<PackedPrefixes> packed_sets_;
  std::vector<Outcome> outcomes_;  // per rule
  RuleIndex index_;
  absl::Duration pending_timeout_;
  absl::Duration flow_ttl_;
};

class PolicyHolder {
 public:
  explicit PolicyHolder(std::shared_ptr<const CompiledPolicy> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const CompiledPolicy> Get() const {
    return current_.load(std::memory_order_acquire);
  }
  void Set(std::shared_ptr<const CompiledPolicy> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const CompiledPolicy>> current_;
};

// A rule that matches `flow`'s connections from the same source host to the
// same destination host and port (any source port), for DECISION_SCOPE_RULE.
nfr::v1::Rule RuleForFlow(const nfr::v1::Flow& flow, nfr::v1::Verdict verdict, std::string id);

}  // namespace nfr
