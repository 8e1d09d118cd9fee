#include "tests/api/test_agent_control.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/util/proto_time.h"

namespace nfr::test {
namespace {

void SetTime(google::protobuf::Timestamp* t, absl::Time at) {
  const int64_t us = absl::ToUnixMicros(at);
  t->set_seconds(us / 1000000);
  t->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

PacketInfo InfoOf(const nfr::v1::Flow& f) {
  PacketInfo p;
  p.family = static_cast<uint8_t>(f.family());
  p.protocol = static_cast<uint8_t>(f.protocol());
  const int af = f.family() == 6 ? AF_INET6 : AF_INET;
  inet_pton(af, f.src_addr().c_str(), p.src.data());
  inet_pton(af, f.dst_addr().c_str(), p.dst.data());
  if (f.protocol() == nfr::v1::PROTOCOL_TCP || f.protocol() == nfr::v1::PROTOCOL_UDP) {
    p.has_ports = true;
    p.src_port = static_cast<uint16_t>(f.src_port());
    p.dst_port = static_cast<uint16_t>(f.dst_port());
    p.tcp_flags = kTcpSyn;
  } else {
    p.has_icmp = true;
    p.icmp_echo = true;
    p.icmp_type = f.family() == 6 ? 128 : 8;
    p.icmp_echo_id = static_cast<uint16_t>(f.src_port());
  }
  return p;
}

}  // namespace

nfr::v1::Flow MakeFlow(const std::string& src, const std::string& dst, uint32_t dport,
                       nfr::v1::Protocol proto, const std::string& iface, uint32_t sport) {
  nfr::v1::Flow f;
  f.set_family(src.find(':') == std::string::npos ? 4 : 6);
  f.set_protocol(proto);
  f.set_src_addr(src);
  f.set_dst_addr(dst);
  f.set_src_port(sport);
  f.set_dst_port(dport);
  f.set_interface(iface);
  f.set_direction(nfr::v1::DIRECTION_INGRESS);
  return f;
}

TestAgentControl::TestAgentControl() {
  nfr::v1::Policy p;
  p.set_default_verdict(nfr::v1::VERDICT_DROP);
  nfr::v1::Rule* ask = p.add_rules();
  ask->set_id("ask-all");
  ask->set_action(nfr::v1::ACTION_ASK);
  policy_ = *CompiledPolicy::Compile(p);
}

void TestAgentControl::SetSink(EventSink* sink) {
  std::lock_guard<std::mutex> l(mu_);
  sink_ = sink;
}

std::string TestAgentControl::Key(const nfr::v1::Flow& f) {
  return absl::StrCat(f.protocol(), " ", f.src_addr(), " ", f.src_port(), " ", f.dst_addr(), " ",
                      f.dst_port(), " ", f.interface());
}

TestAgentControl::Outcome TestAgentControl::Offer(const nfr::v1::Flow& flow, uint64_t* pending_id) {
  std::unique_lock<std::mutex> l(mu_);
  if (auto it = flow_cache_.find(Key(flow)); it != flow_cache_.end()) return Outcome::kCached;
  const PolicyMatch m = policy_->Match(InfoOf(flow), flow.interface(), flow.direction());
  EventSink* sink = sink_;
  if (m.action == nfr::v1::ACTION_ASK) {
    nfr::v1::PendingConnection p;
    p.set_id(next_pending_++);
    *p.mutable_flow() = flow;
    const absl::Time now = absl::Now();
    SetTime(p.mutable_first_seen(), now);
    SetTime(p.mutable_deadline(), now + policy_->pending_timeout());
    p.set_packets(1);
    p.set_rule_id(m.rule_id);
    pending_[p.id()] = p;
    if (pending_id) *pending_id = p.id();
    l.unlock();
    if (sink) sink->OnPendingAdded(p);
    return Outcome::kPending;
  }
  nfr::v1::Verdict v = m.action == nfr::v1::ACTION_ACCEPT ? nfr::v1::VERDICT_ACCEPT
                       : m.action == nfr::v1::ACTION_DROP ? nfr::v1::VERDICT_DROP
                                                          : policy_->default_verdict();
  flow_cache_[Key(flow)] = v;
  (v == nfr::v1::VERDICT_ACCEPT ? accepts_ : drops_)++;
  nfr::v1::Decision d;
  SetTime(d.mutable_time(), absl::Now());
  *d.mutable_flow() = flow;
  d.set_verdict(v);
  d.set_scope(nfr::v1::DECISION_SCOPE_FLOW);
  d.set_source(nfr::v1::DECISION_SOURCE_POLICY);
  d.set_rule_id(m.rule_id);
  d.set_ttl_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(m.ttl)));
  l.unlock();
  if (sink) sink->OnFlowDecided(d);
  return v == nfr::v1::VERDICT_ACCEPT ? Outcome::kAccepted : Outcome::kDropped;
}

int TestAgentControl::ExpireDue(bool force) {
  std::vector<std::pair<nfr::v1::PendingConnection, nfr::v1::Decision>> done;
  EventSink* sink;
  {
    std::lock_guard<std::mutex> l(mu_);
    sink = sink_;
    const absl::Time now = absl::Now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (!force && FromProtoTime(it->second.deadline()) > now) {
        ++it;
        continue;
      }
      nfr::v1::Decision d;
      SetTime(d.mutable_time(), now);
      *d.mutable_flow() = it->second.flow();
      d.set_verdict(policy_->default_verdict());
      d.set_scope(nfr::v1::DECISION_SCOPE_ONCE);
      d.set_source(nfr::v1::DECISION_SOURCE_TIMEOUT);
      d.set_pending_id(it->first);
      ++expired_;
      done.emplace_back(it->second, d);
      it = pending_.erase(it);
    }
  }
  for (auto& [p, d] : done) {
    if (sink) sink->OnPendingResolved(p, d);
  }
  return static_cast<int>(done.size());
}

std::optional<nfr::v1::Verdict> TestAgentControl::CachedVerdict(const nfr::v1::Flow& flow) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = flow_cache_.find(Key(flow));
  if (it == flow_cache_.end()) return std::nullopt;
  return it->second;
}

nfr::v1::Policy TestAgentControl::GetPolicy() const {
  std::lock_guard<std::mutex> l(mu_);
  return policy_->policy();
}

absl::Status TestAgentControl::InstallPolicy(const nfr::v1::Policy& policy) {
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> c = CompiledPolicy::Compile(policy);
  if (!c.ok()) return c.status();
  std::lock_guard<std::mutex> l(mu_);
  policy_ = *c;
  ++installs_;
  return absl::OkStatus();
}

std::vector<nfr::v1::PendingConnection> TestAgentControl::ListPending() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<nfr::v1::PendingConnection> out;
  for (const auto& [id, p] : pending_) out.push_back(p);
  return out;
}

absl::StatusOr<nfr::v1::Decision> TestAgentControl::Decide(const DecideRequest& r) {
  nfr::v1::PendingConnection p;
  nfr::v1::Decision d;
  EventSink* sink;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(r.pending_id);
    if (it == pending_.end()) {
      return absl::NotFoundError(absl::StrCat("no pending connection ", r.pending_id));
    }
    p = it->second;
    pending_.erase(it);
    sink = sink_;
    if (r.scope != nfr::v1::DECISION_SCOPE_ONCE) flow_cache_[Key(p.flow())] = r.verdict;
    (r.verdict == nfr::v1::VERDICT_ACCEPT ? accepts_ : drops_)++;
    SetTime(d.mutable_time(), absl::Now());
    *d.mutable_flow() = p.flow();
    d.set_verdict(r.verdict);
    d.set_scope(r.scope);
    d.set_source(nfr::v1::DECISION_SOURCE_CONTROLLER);
    d.set_ttl_seconds(static_cast<uint32_t>(
        absl::ToInt64Seconds(r.ttl == absl::ZeroDuration() ? policy_->flow_ttl() : r.ttl)));
    d.set_decider(r.decider);
    d.set_reason(r.reason);
    d.set_pending_id(r.pending_id);
  }
  if (sink) sink->OnPendingResolved(p, d);
  return d;
}

AgentStatusInfo TestAgentControl::Status() const {
  std::lock_guard<std::mutex> l(mu_);
  AgentStatusInfo s;
  s.version = "test";
  s.mode = "compat";
  s.kernel_capability = "none";
  s.compat_backend = "iptables";
  s.interfaces = {"r-cli"};
  s.queues = {4200};
  s.started = started_;
  s.counters.bpf.assign(12, 7);
  s.counters.verdicts_accept = accepts_;
  s.counters.verdicts_drop = drops_;
  s.counters.pending_now = pending_.size();
  s.counters.pending_expired = expired_;
  return s;
}

int TestAgentControl::installs() const {
  std::lock_guard<std::mutex> l(mu_);
  return installs_;
}

}  // namespace nfr::test
