#include "tests/api/test_agent.h"

#include <arpa/inet.h>

#include "agent/config/config_defaults.h"
#include "agent/config/config_validation.h"
#include "agent/packet/flow_key.h"
#include "agent/packet/packet_parser.h"
#include "tests/unit/packet_builder.h"

namespace nfr::test {
namespace {

constexpr uint32_t kFirstIfindex = 1000;

// Held packets get their verdict here (there is no NFQUEUE in this tier).
class DiscardingSender : public HeldVerdictSender {
 public:
  absl::Status SendVerdict(uint16_t, uint32_t, bool) override { return absl::OkStatus(); }
};

nfr::v1::AgentConfig TestConfig() {
  nfr::v1::AgentConfig c;
  nfr::v1::Policy* p = c.mutable_policy();
  p->set_default_verdict(nfr::v1::VERDICT_DROP);
  nfr::v1::Rule* ask = p->add_rules();
  ask->set_id("ask-all");
  ask->set_action(nfr::v1::ACTION_ASK);
  c.mutable_pending()->set_max_flows(kMaxPendingFlows);  // watchers see every connection
  ApplyDefaults(c);
  return c;
}

}  // namespace

// Forwards engine events to whatever sink the fixture set (it changes on restart).
class TestAgent::Sink : public EventSink {
 public:
  explicit Sink(std::atomic<EventSink*>* target) : target_(target) {}
  void OnPendingAdded(const nfr::v1::PendingConnection& p) override {
    if (EventSink* s = target_->load()) s->OnPendingAdded(p);
  }
  void OnPendingResolved(const nfr::v1::PendingConnection& p, const nfr::v1::Decision& d) override {
    if (EventSink* s = target_->load()) s->OnPendingResolved(p, d);
  }
  void OnFlowDecided(const nfr::v1::Decision& d) override {
    if (EventSink* s = target_->load()) s->OnFlowDecided(d);
  }

 private:
  std::atomic<EventSink*>* target_;
};

TestAgent::TestAgent()
    : forward_(std::make_unique<Sink>(&sink_)), sender_(std::make_unique<DiscardingSender>()) {
  absl::StatusOr<std::unique_ptr<Agent>> a = Agent::Create(TestConfig());
  agent_ = *std::move(a);
  agent_->AddEventSink(forward_.get());
  agent_->engine()->SetCache(&cache_);
  agent_->engine()->SetSender(sender_.get());
}

TestAgent::~TestAgent() {
  agent_->engine()->SetCache(nullptr);
  agent_->engine()->SetSender(nullptr);
}

absl::Status TestAgent::InstallPolicy(const nfr::v1::Policy& policy) {
  absl::Status s = agent_->InstallPolicy(policy);
  if (s.ok()) ++installs_;
  return s;
}

uint32_t TestAgent::IfindexOf(const std::string& name) {
  for (size_t i = 0; i < ifaces_.size(); ++i) {
    if (ifaces_[i] == name) return kFirstIfindex + static_cast<uint32_t>(i);
  }
  ifaces_.push_back(name);
  const uint32_t index = kFirstIfindex + static_cast<uint32_t>(ifaces_.size() - 1);
  agent_->engine()->NameInterface(index, name);
  return index;
}

std::vector<uint8_t> TestAgent::PacketOf(const nfr::v1::Flow& f) {
  const bool v6 = f.family() == 6;
  const uint8_t proto = static_cast<uint8_t>(f.protocol());
  std::vector<uint8_t> l4;
  const uint16_t sport = static_cast<uint16_t>(f.src_port());
  const uint16_t dport = static_cast<uint16_t>(f.dst_port());
  if (f.protocol() == nfr::v1::PROTOCOL_TCP) {
    l4 = testing::TcpHeader(sport, dport, kTcpSyn);
  } else if (f.protocol() == nfr::v1::PROTOCOL_UDP) {
    l4 = testing::UdpHeader(sport, dport);
  } else {
    l4 = testing::IcmpEcho(v6 ? 128 : 8, sport, 1);
  }
  if (!v6) {
    uint8_t s[4], d[4];
    inet_pton(AF_INET, f.src_addr().c_str(), s);
    inet_pton(AF_INET, f.dst_addr().c_str(), d);
    return testing::Ipv4({s[0], s[1], s[2], s[3]}, {d[0], d[1], d[2], d[3]}, proto, l4);
  }
  uint8_t s[16], d[16];
  inet_pton(AF_INET6, f.src_addr().c_str(), s);
  inet_pton(AF_INET6, f.dst_addr().c_str(), d);
  return testing::Ipv6(s, d, proto, {}, l4);
}

TestAgent::Outcome TestAgent::Offer(const nfr::v1::Flow& flow, uint64_t* pending_id) {
  QueuedPacket q;
  nfr_flow_key key;
  {
    std::lock_guard<std::mutex> l(mu_);
    packets_.push_back(PacketOf(flow));
    q.queue = 4200;
    q.id = next_packet_id_++;
    q.hook = flow.direction() == nfr::v1::DIRECTION_EGRESS ? NFR_HOOK_REDIRECT_EGRESS : 0;
    const uint32_t index = IfindexOf(flow.interface());
    (flow.direction() == nfr::v1::DIRECTION_EGRESS ? q.out_ifindex : q.in_ifindex) = index;
    q.payload = absl::MakeConstSpan(packets_.back());
    key = FlowKeyOf(*ParsePacket(q.payload));
  }
  if (std::optional<nfr_flow_value> v = cache_.LookupFlow(key);
      v.has_value() && v->verdict != NFR_VERDICT_PENDING) {
    agent_->engine()->OnPacket(q);
    return Outcome::kCached;
  }
  switch (agent_->engine()->OnPacket(q)) {
    case QueueAction::kAccept:
      return Outcome::kAccepted;
    case QueueAction::kDrop:
      return Outcome::kDropped;
    case QueueAction::kHold:
      break;
  }
  if (pending_id != nullptr) {
    for (const nfr::v1::PendingConnection& p : agent_->ListPending()) {
      const nfr::v1::Flow& f = p.flow();
      if (f.src_addr() == flow.src_addr() && f.dst_addr() == flow.dst_addr() &&
          f.src_port() == flow.src_port() && f.dst_port() == flow.dst_port() &&
          f.protocol() == flow.protocol() && f.interface() == flow.interface()) {
        *pending_id = p.id();
      }
    }
  }
  return Outcome::kPending;
}

void TestAgent::ExpireDue(bool force) {
  agent_->engine()->ExpireDue(force ? absl::InfiniteFuture() : absl::Now());
}

std::optional<nfr::v1::Verdict> TestAgent::CachedVerdict(const nfr::v1::Flow& flow) const {
  std::vector<uint8_t> bytes = PacketOf(flow);
  std::optional<nfr_flow_value> v = cache_.LookupFlow(FlowKeyOf(*ParsePacket(bytes)));
  if (!v.has_value() || v->verdict == NFR_VERDICT_PENDING) return std::nullopt;
  return v->verdict == NFR_VERDICT_ALLOW ? nfr::v1::VERDICT_ACCEPT : nfr::v1::VERDICT_DROP;
}

size_t TestAgent::CachedEntries() const {
  size_t n = 0;
  (void)cache_.DumpFlows([&](absl::Span<const nfr_flow_key> keys,
                             absl::Span<const nfr_flow_value>) { n += keys.size(); });
  return n;
}

AgentStatusInfo TestAgent::Status() const {
  AgentStatusInfo s = agent_->Status();
  s.version = "test";
  s.mode = "compat";
  s.kernel_capability = "none";
  s.compat_backend = "iptables";
  s.interfaces = {"r-cli"};
  s.queues = {4200};
  s.counters.bpf.assign(12, 7);
  return s;
}

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

}  // namespace nfr::test
