#include "agent/runtime/agent.h"

#include <net/if.h>
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/config/config_validation.h"
#include "agent/datapath/datapath.h"
#include "agent/datapath/flow_cache.h"
#include "agent/policy/policy_validation.h"
#include "agent/queue/queue_set.h"
#include "agent/util/log.h"
#include "agent/runtime/pending_expirer.h"
#include "agent/runtime/verdict_engine.h"

#ifndef NFR_VERSION
#define NFR_VERSION "dev"
#endif

namespace nfr {

namespace {

OverflowVerdict QueueOverflowOf(const nfr::v1::QueueConfig& q) {
  if (q.fail_closed() || q.overflow() == nfr::v1::QUEUE_OVERFLOW_DROP) {
    return OverflowVerdict::kDrop;
  }
  if (q.overflow() == nfr::v1::QUEUE_OVERFLOW_ACCEPT) return OverflowVerdict::kAccept;
  return OverflowVerdict::kPolicyDefault;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(nfr::v1::AgentConfig config) {
  if (auto s = ValidateConfig(config); !s.ok()) return s;
  auto policy = CompiledPolicy::Compile(config.policy());
  if (!policy.ok()) return policy.status();
  std::unique_ptr<Agent> agent(new Agent(std::move(config)));
  const auto& p = agent->config_.pending();
  agent->engine_ = std::make_unique<VerdictEngine>(
      *std::move(policy), PendingLimits{p.max_flows(), p.max_packets_per_flow()}, &agent->sinks_,
      agent->config_.decision_log().has_records_per_second()
          ? agent->config_.decision_log().records_per_second()
          : kDefaultPolicyRecordsPerSecond);
  agent->expirer_ = std::make_unique<PendingExpirer>(agent->engine_.get());
  agent->engine_->SetPendingAddedHook([e = agent->expirer_.get()] { e->Wake(); });
  return agent;
}

Agent::Agent(nfr::v1::AgentConfig config) : config_(std::move(config)) {}

Agent::~Agent() { Shutdown(); }

absl::Status Agent::Start() {
  if (running_) return absl::FailedPreconditionError("the agent is already running");
  if (config_.interfaces().empty()) {
    LogLine(
        "nfr-agent: no interfaces configured; nothing will be inspected (pass "
        "--interfaces=IFACE or list them in the config file)");
  }
  auto dp = Datapath::Start(config_);
  if (!dp.ok()) return dp.status();
  absl::MutexLock dp_lock(&dp_mu_);
  datapath_ = *std::move(dp);
  // The policy may have changed since Create (the API restores the stored one).
  SyncPendingTimeout();
  engine_->SetCache(&datapath_->flows());

  const auto& q = config_.queue();
  QueueOptions options;
  options.max_len = q.max_len();
  options.socket_buffer_bytes = q.socket_buffer_bytes();
  options.overflow = QueueOverflowOf(q);
  options.default_accepts = engine_->default_verdict() == nfr::v1::VERDICT_ACCEPT;
  // Compat mode: accepted packets leave the queue without the mark bit the program set.
  if (datapath_->status().mode == "compat") options.clear_mark = config_.compat().mark();
  auto queues = QueueSet::Open(static_cast<uint16_t>(q.num()), static_cast<uint16_t>(q.count()),
                               options, engine_.get());
  if (!queues.ok()) {
    engine_->SetCache(nullptr);
    datapath_.reset();
    return queues.status();
  }
  queues_ = *std::move(queues);
  engine_->SetSender(queues_.get());
  queues_->Start();
  expirer_->Start();
  started_ = absl::Now();
  running_ = true;

  const DatapathStatus st = datapath_->status();
  mode_ = st.mode;
  capability_ = st.capability.Describe();
  compat_backend_ = st.compat_backend;
  interfaces_ = st.interfaces;
  for (const std::string& name : st.interfaces) {
    const std::string dev = name.substr(0, name.find(':'));
    if (const unsigned index = if_nametoindex(dev.c_str()); index != 0) {
      engine_->NameInterface(index, dev);
    }
  }
  queue_numbers_ = queues_->numbers();
  LogLine(absl::StrCat(
      "nfr-agent: mode=", st.mode, " (", st.capability.Reason(), ")",
      st.compat_backend.empty() ? "" : absl::StrCat("; compat backend ", st.compat_backend),
      "; queues ", q.num(), "..", q.num() + q.count() - 1, "; interfaces ",
      st.interfaces.empty() ? "none" : absl::StrJoin(st.interfaces, ",")));
  return absl::OkStatus();
}

void Agent::Shutdown() {
  if (!running_.exchange(false)) return;
  // 1. No new packets go up: detach the program and remove the compat rule.
  engine_->SetCache(nullptr);
  {
    absl::MutexLock lock(&dp_mu_);
    datapath_.reset();
  }
  // 2. The queue threads handle what the kernel already queued, then stop.
  expirer_->Stop();
  queues_->Stop();
  // 3. Everything still held gets the default verdict before the queues close.
  engine_->ResolveAll("agent shutting down");
  engine_->SetSender(nullptr);
  {
    absl::MutexLock lock(&dp_mu_);
    queues_.reset();
  }
  LogLine("nfr-agent: stopped");
}

nfr::v1::Policy Agent::GetPolicy() const { return engine_->GetPolicy(); }
nfr::v1::Policy Agent::GetPolicyRules() const { return engine_->GetPolicyRules(); }

absl::Status Agent::InstallPolicy(const nfr::v1::Policy& policy) {
  auto compiled = CompiledPolicy::Compile(policy);
  if (!compiled.ok()) return compiled.status();
  InstallCompiled(*std::move(compiled));
  return absl::OkStatus();
}

uint64_t Agent::PolicyVersion() const { return engine_->policy_version(); }

void Agent::InstallCompiled(std::shared_ptr<const CompiledPolicy> compiled) {
  const bool accepts = compiled->default_verdict() == nfr::v1::VERDICT_ACCEPT;
  engine_->InstallCompiled(std::move(compiled));
  absl::MutexLock lock(&dp_mu_);
  SyncPendingTimeout();
  if (queues_ != nullptr) {
    if (auto s = queues_->SetOverflowAccepts(accepts); !s.ok()) {
      LogLine(absl::StrCat("nfr-agent: queue overflow verdict not updated: ", s.message()));
    }
  }
}

void Agent::SyncPendingTimeout() {
  if (datapath_ == nullptr) return;
  if (auto s = datapath_->SetPendingTimeout(engine_->pending_timeout()); !s.ok()) {
    LogLine(absl::StrCat("nfr-agent: setting the BPF pending timeout: ", s.message()));
  }
  // Over-budget new flows get the policy's default verdict in the kernel.
  const bool drop = engine_->default_verdict() != nfr::v1::VERDICT_ACCEPT;
  if (auto s = datapath_->SetDefaultVerdict(drop); !s.ok()) {
    LogLine(absl::StrCat("nfr-agent: setting the BPF default verdict: ", s.message()));
  }
}

std::vector<nfr::v1::PendingConnection> Agent::ListPending() const {
  return engine_->ListPending();
}

std::optional<nfr::v1::PendingConnection> Agent::FindPending(uint64_t id) const {
  return engine_->FindPending(id);
}

absl::StatusOr<Resolution> Agent::Decide(const DecideRequest& request) {
  return engine_->Decide(request);
}

absl::Status Agent::ForEachFlow(FlowWanted want,
                                absl::FunctionRef<void(const CachedFlow&)> fn) const {
  return engine_->ForEachFlow(want, fn);
}

absl::Status Agent::ForgetFlows(absl::Span<const CachedFlow> flows) {
  return engine_->ForgetFlows(flows);
}

absl::StatusOr<absl::Duration> Agent::DenyFlows(absl::Span<const CachedFlow> flows,
                                                absl::Span<const uint64_t> ids) {
  return engine_->DenyFlows(flows, ids);
}

AgentStatusInfo Agent::Status() const {
  AgentStatusInfo s;
  s.version = NFR_VERSION;
  s.mode = mode_;
  s.kernel_capability = capability_;
  s.compat_backend = compat_backend_;
  s.interfaces = interfaces_;
  s.queues = queue_numbers_;
  s.started = started_;
  {
    absl::MutexLock lock(&dp_mu_);
    if (datapath_ != nullptr) s.counters.bpf = datapath_->ReadStats();
    if (queues_ != nullptr) {
      const QueueStats q = queues_->stats();
      s.counters.queued_packets = q.received;
      s.counters.verdicts_accept = q.accepted;
      s.counters.verdicts_drop = q.dropped;
      s.counters.enobufs = q.enobufs;
      for (const QueueInfo& info : queues_->PerQueue()) {
        QueueStatusInfo& o = s.queue_status.emplace_back();
        o.num = info.num;
        o.fail_open = info.fail_open;
        o.received = info.stats.received;
        o.accepted = info.stats.accepted;
        o.dropped = info.stats.dropped;
        o.held = info.stats.held;
        o.enobufs = info.stats.enobufs;
        if (info.kernel.has_value()) {
          o.kernel_stats = true;
          o.waiting = info.kernel->waiting;
          o.queue_dropped = info.kernel->queue_dropped;
          o.user_dropped = info.kernel->user_dropped;
        }
      }
    }
  }
  if (s.counters.bpf.empty()) s.counters.bpf.assign(NFR_STAT_MAX, 0);
  const auto pc = engine_->pending_counters();
  s.counters.pending_now = engine_->pending_size();
  s.counters.pending_expired = pc.expired;
  s.counters.pending_overflow = pc.flow_overflow + pc.packet_overflow;
  const EngineCounters ec = engine_->counters();
  s.counters.engine_packets = ec.packets;
  s.counters.parse_errors = ec.parse_errors;
  s.counters.engine_cache_hits = ec.cache_hits;
  s.counters.policy_accept = ec.policy_accept;
  s.counters.policy_drop = ec.policy_drop;
  s.counters.asked = ec.asked;
  s.counters.controller_decisions = ec.controller_decisions;
  s.counters.cache_errors = ec.cache_errors;
  s.counters.lookups_skipped = ec.lookups_skipped;
  s.counters.policy_decisions_unlogged = ec.unlogged_decisions;
  s.counters.unlogged_by_rule = engine_->UnloggedByRule();
  return s;
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace nfr
