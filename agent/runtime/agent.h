// nfr-agent as a whole: owns the configuration, the kernel datapath, the
// NFQUEUEs, the verdict engine and its expiry thread; exposes AgentControl
// for the API and takes EventSinks before it starts.
#pragma once

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/runtime/agent_control.h"
#include "agent/runtime/event_fanout.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

class Datapath;
class QueueSet;
class VerdictEngine;
class PendingExpirer;

class Agent : public AgentControl {
 public:
  // `config` has defaults applied and is validated here (INVALID_ARGUMENT
  // naming the field). Nothing touches the kernel until Start().
  static absl::StatusOr<std::unique_ptr<Agent>> Create(nfr::v1::AgentConfig config);
  ~Agent() override;

  // The boundary the gRPC API uses. Valid for the Agent's lifetime.
  AgentControl* control() { return this; }
  // Before Start(). The sink must outlive the Agent's Shutdown().
  void AddEventSink(EventSink* sink) { sinks_.Add(sink); }

  // Loads and attaches the datapath, binds the queues, starts the threads and
  // logs the start line. Errors say what to fix.
  absl::Status Start();
  // Detaches, gives every held packet the default verdict, stops. Idempotent.
  void Shutdown();

  const nfr::v1::AgentConfig& config() const { return config_; }

  // AgentControl.
  nfr::v1::Policy GetPolicy() const override;
  nfr::v1::Policy GetPolicyRules() const override;
  absl::Status InstallPolicy(const nfr::v1::Policy& policy) override;
  void InstallCompiled(std::shared_ptr<const CompiledPolicy> policy) override;
  uint64_t PolicyVersion() const override;
  std::vector<nfr::v1::PendingConnection> ListPending() const override;
  std::optional<nfr::v1::PendingConnection> FindPending(uint64_t id) const override;
  absl::StatusOr<Resolution> Decide(const DecideRequest& request) override;
  absl::Status ForEachFlow(FlowWanted want, absl::FunctionRef<void(const CachedFlow&)> fn) const override;
  absl::Status ForgetFlows(absl::Span<const CachedFlow> flows) override;
  absl::StatusOr<absl::Duration> DenyFlows(absl::Span<const CachedFlow> flows,
                                           absl::Span<const uint64_t> ids) override;

  // The verdict engine, for in-process drivers (tests) before Start().
  VerdictEngine* engine() { return engine_.get(); }
  AgentStatusInfo Status() const override;

 private:
  explicit Agent(nfr::v1::AgentConfig config);
  // Tells the tc program how long its PENDING entries live (the policy's pending timeout).
  void SyncPendingTimeout() ABSL_EXCLUSIVE_LOCKS_REQUIRED(dp_mu_);

  nfr::v1::AgentConfig config_;
  EventFanout sinks_;
  std::unique_ptr<VerdictEngine> engine_;
  std::unique_ptr<PendingExpirer> expirer_;
  // Guards datapath_ between control-plane calls (API threads) and Shutdown.
  mutable absl::Mutex dp_mu_;
  std::unique_ptr<Datapath> datapath_ ABSL_GUARDED_BY(dp_mu_);
  std::unique_ptr<QueueSet> queues_ ABSL_GUARDED_BY(dp_mu_);
  absl::Time started_ = absl::InfinitePast();
  std::atomic<bool> running_{false};
  // Status fields captured at Start (kept after Shutdown).
  std::string mode_, capability_, compat_backend_;
  std::vector<std::string> interfaces_;
  std::vector<uint32_t> queue_numbers_;
};

// Blocks SIGTERM and SIGINT in the calling thread; call before any thread is
// created so every thread inherits the mask.
void BlockTerminationSignals();
// Waits for SIGTERM or SIGINT (blocked by BlockTerminationSignals); returns its number.
int WaitForTerminationSignal();

}  // namespace nfr
