// A verdict engine for API tests: real policy compilation and matching
// (agent/policy), a real pending table with deadlines and a flow cache, all
// in memory. It stands in for agent/runtime only; everything else is real.
#pragma once

#include <map>
#include <mutex>
#include <optional>

#include "agent/policy/compiled_policy.h"
#include "agent/runtime/agent_control.h"

namespace nfr::test {

class TestAgentControl : public AgentControl {
 public:
  TestAgentControl();

  void SetSink(EventSink* sink);

  enum class Outcome { kAccepted, kDropped, kPending, kCached };
  // A new connection's first packet arrives: flow cache, then policy; ASK
  // makes it pending (OnPendingAdded); ACCEPT/DROP/default -> OnFlowDecided.
  Outcome Offer(const nfr::v1::Flow& flow, uint64_t* pending_id = nullptr);
  // Applies the default verdict to pending connections whose deadline passed
  // (or all of them with `force`), as the runtime's timer would.
  int ExpireDue(bool force = false);
  std::optional<nfr::v1::Verdict> CachedVerdict(const nfr::v1::Flow& flow) const;

  nfr::v1::Policy GetPolicy() const override;
  absl::Status InstallPolicy(const nfr::v1::Policy& policy) override;
  std::vector<nfr::v1::PendingConnection> ListPending() const override;
  absl::StatusOr<nfr::v1::Decision> Decide(const DecideRequest& request) override;
  AgentStatusInfo Status() const override;

  int installs() const;

 private:
  static std::string Key(const nfr::v1::Flow& f);

  mutable std::mutex mu_;
  EventSink* sink_ = nullptr;
  std::shared_ptr<const CompiledPolicy> policy_;
  std::map<uint64_t, nfr::v1::PendingConnection> pending_;
  std::map<std::string, nfr::v1::Verdict> flow_cache_;
  uint64_t next_pending_ = 1;
  int installs_ = 0;
  uint64_t accepts_ = 0, drops_ = 0, expired_ = 0;
  absl::Time started_ = absl::Now();
};

nfr::v1::Flow MakeFlow(const std::string& src, const std::string& dst, uint32_t dport,
                       nfr::v1::Protocol proto = nfr::v1::PROTOCOL_TCP,
                       const std::string& iface = "r-cli", uint32_t sport = 40000);

}  // namespace nfr::test
