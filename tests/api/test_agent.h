// The real Agent for API tests, created but not started: its verdict engine,
// pending table and compiled policy decide packets handed to it as NFQUEUE
// would, with the in-memory flow cache and recorded held-packet verdicts. Only
// the datapath part of the status (mode, interfaces, BPF counters) is a lab's.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/runtime/agent.h"
#include "agent/datapath/memory_verdict_cache.h"
#include "agent/runtime/verdict_engine.h"

namespace nfr::test {

class TestAgent : public AgentControl {
 public:
  TestAgent();
  ~TestAgent() override;

  void SetSink(EventSink* sink) { sink_.store(sink); }

  enum class Outcome { kAccepted, kDropped, kPending, kCached };
  // The first packet of `flow` (TCP SYN, UDP datagram or ICMP echo) reaches
  // the engine. kPending reports the pending id.
  Outcome Offer(const nfr::v1::Flow& flow, uint64_t* pending_id = nullptr);
  // Applies the default verdict to pending connections whose deadline passed
  // (or all of them with `force`), as the runtime's timer does.
  void ExpireDue(bool force = false);
  std::optional<nfr::v1::Verdict> CachedVerdict(const nfr::v1::Flow& flow) const;

  nfr::v1::Policy GetPolicy() const override { return agent_->GetPolicy(); }
  nfr::v1::Policy GetPolicyRules() const override { return agent_->GetPolicyRules(); }
  absl::Status InstallPolicy(const nfr::v1::Policy& policy) override;
  void InstallCompiled(std::shared_ptr<const CompiledPolicy> policy) override {
    agent_->InstallCompiled(std::move(policy));
    ++installs_;
  }
  uint64_t PolicyVersion() const override { return agent_->PolicyVersion(); }
  std::vector<nfr::v1::PendingConnection> ListPending() const override {
    return agent_->ListPending();
  }
  std::optional<nfr::v1::PendingConnection> FindPending(uint64_t id) const override {
    return agent_->FindPending(id);
  }
  absl::StatusOr<Resolution> Decide(const DecideRequest& request) override {
    return agent_->Decide(request);
  }
  absl::Status ForEachFlow(FlowWanted want,
                           absl::FunctionRef<void(const CachedFlow&)> fn) const override {
    return agent_->ForEachFlow(want, fn);
  }
  absl::Status ForgetFlows(absl::Span<const CachedFlow> flows) override {
    return agent_->ForgetFlows(flows);
  }
  absl::StatusOr<absl::Duration> DenyFlows(absl::Span<const CachedFlow> flows,
                                           absl::Span<const uint64_t> ids) override {
    return agent_->DenyFlows(flows, ids);
  }
  AgentStatusInfo Status() const override;
  // How many live entries the in-memory flow cache holds.
  size_t CachedEntries() const;

  int installs() const { return installs_.load(); }

 private:
  class Sink;
  static std::vector<uint8_t> PacketOf(const nfr::v1::Flow& flow);
  uint32_t IfindexOf(const std::string& name);

  std::atomic<EventSink*> sink_{nullptr};
  std::unique_ptr<Sink> forward_;
  std::unique_ptr<Agent> agent_;
  MemoryVerdictCache cache_;
  std::unique_ptr<HeldVerdictSender> sender_;
  std::atomic<int> installs_{0};
  std::mutex mu_;
  std::vector<std::string> ifaces_;
  std::deque<std::vector<uint8_t>> packets_;
  uint32_t next_packet_id_ = 1;
};

nfr::v1::Flow MakeFlow(const std::string& src, const std::string& dst, uint32_t dport,
                       nfr::v1::Protocol proto = nfr::v1::PROTOCOL_TCP,
                       const std::string& iface = "r-cli", uint32_t sport = 40000);

}  // namespace nfr::test
