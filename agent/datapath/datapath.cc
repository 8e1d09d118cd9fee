#include "agent/datapath/datapath.h"

#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/datapath/bpf_program.h"
#include "agent/datapath/bpffs.h"
#include "agent/datapath/capability.h"
#include "agent/datapath/compat_rule.h"
#include "agent/datapath/flow_cache.h"
#include "agent/datapath/kmod.h"
#include "agent/datapath/link_type.h"
#include "agent/datapath/map_adoption.h"
#include "agent/datapath/ownership_lock.h"
#include "agent/datapath/run_state.h"
#include "agent/datapath/selection_writer.h"
#include "agent/datapath/tc_attach.h"
#include "agent/util/log.h"

namespace nfr {
namespace {

constexpr const char* kRunDir = "/run/nfr";

// Lock and run-state files: systemd's RuntimeDirectory= (owned by User=, so a non-root agent can
// write there), else /run/nfr.
std::string RunDir() {
  const char* dir = getenv("RUNTIME_DIRECTORY");
  return dir != nullptr && dir[0] == '/' ? std::string(dir) : std::string(kRunDir);
}
// Pending entries outlive the agent's own pending timeout so the verdict lands first.
constexpr uint32_t kPendingTtlMarginMs = 1000;
constexpr uint32_t kDefaultNewFlowRate = 1000;

struct WantedIface {
  std::string name;
  int ifindex = 0;
  bool egress = false;
};

absl::StatusOr<std::vector<WantedIface>> ResolveInterfaces(const nfr::v1::AgentConfig& config) {
  std::map<std::string, WantedIface> by_name;
  for (int i = 0; i < config.interfaces_size(); ++i) {
    const auto& ic = config.interfaces(i);
    unsigned idx = if_nametoindex(ic.name().c_str());
    if (ic.name().empty() || idx == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "interfaces[", i, "]: interface '", ic.name(),
          "' does not exist in this network namespace; check `ip link` (or run the agent "
          "inside the right namespace with nsenter --net=...)"));
    }
    WantedIface& w = by_name[ic.name()];
    w.name = ic.name();
    w.ifindex = static_cast<int>(idx);
    w.egress = w.egress || ic.egress();
  }
  std::vector<WantedIface> out;
  for (auto& [_, w] : by_name) out.push_back(w);
  return out;
}

std::vector<datapath::TcDirection> Directions(const WantedIface& w, bool native) {
  std::vector<datapath::TcDirection> dirs = {datapath::TcDirection::kIngress};
  if (w.egress && native) dirs.push_back(datapath::TcDirection::kEgress);
  return dirs;
}

// Detaches what a previous agent (crashed, or stopped with restart.fail_closed_while_down)
// recorded, in this netns only. Hooks this agent attaches again are left for TcAttach to replace
// in one step, so they are never unguarded in between.
void CleanStaleAttachments(const std::string& state_path, const std::vector<WantedIface>& wanted,
                           bool native) {
  datapath::RunState old = datapath::ReadRunState(state_path);
  if (old.netns_ino == datapath::CurrentNetnsIno()) {
    for (const auto& a : old.attachments) {
      bool reattached = false;
      for (const auto& w : wanted) {
        for (auto dir : Directions(w, native)) reattached |= w.ifindex == a.ifindex && dir == a.dir;
      }
      if (!reattached) (void)datapath::TcDetach(a.ifindex, a.dir);
    }
  }
  datapath::RemoveRunState(state_path);
}

}  // namespace

Datapath::Datapath() = default;

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Start(const nfr::v1::AgentConfig& config) {
  std::unique_ptr<Datapath> dp(new Datapath());
  // On failure the destructor undoes whatever Init managed to do.
  if (auto st = dp->Init(config); !st.ok()) return st;
  return dp;
}

absl::Status Datapath::Init(const nfr::v1::AgentConfig& config) {
  pin_dir_ = config.bpf_pin_dir();
  while (pin_dir_.size() > 1 && pin_dir_.back() == '/') pin_dir_.pop_back();
  run_dir_ = RunDir();

  auto ifaces = ResolveInterfaces(config);
  if (!ifaces.ok()) return ifaces.status();

  auto lock = datapath::OwnershipLock::Acquire(pin_dir_, run_dir_);
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);

  keep_flow_cache_ = config.restart().keep_flow_cache();
  fail_closed_while_down_ = config.restart().fail_closed_while_down();

  // The previous agent's queue rules (a crash, or restart.fail_closed_while_down): removed only
  // once the new rule is in, so selected packets are queued throughout a restart.
  const datapath::StaleCompatRules stale_rules = datapath::FindStaleCompatRules();
  if (auto st = datapath::EnsurePinDir(pin_dir_); !st.ok()) return st;
  // Restart without amnesia: the previous agent's flow cache, budget and counters, if compatible.
  datapath::PreviousMaps previous;
  if (keep_flow_cache_) previous = datapath::PreviousMaps::Open(pin_dir_);
  if (auto st = datapath::RemoveStalePins(pin_dir_); !st.ok()) return st;

  datapath::BpfLoadOptions load;
  if (config.flow_cache().max_entries()) load.flows_max_entries = config.flow_cache().max_entries();
  load.previous = &previous;
  flows_max_entries_ = load.flows_max_entries;
  auto prog = datapath::BpfProgram::Load(load);
  if (!prog.ok()) return prog.status();
  prog_ = std::move(*prog);
  adopted_ = previous.adopted();
  flows_ = std::make_unique<datapath::FlowCache>(prog_->flows_fd());
  if (auto writer = datapath::FlowWriter::Load(prog_->flows_fd()); writer.ok()) {
    flows_->SetWriter(*std::move(writer));
  } else {
    LogLine(absl::StrCat("nfr-agent: ", writer.status().message(),
                         " (needs Linux >= 5.14); flow-cache writes use BPF_MAP_UPDATE_BATCH"));
  }
  capability_ = datapath::ProbeWithProgram(prog_->probe_fd());

  switch (config.mode()) {
    case nfr::v1::MODE_NATIVE:
      if (!capability_.native()) {
        return absl::FailedPreconditionError(
            absl::StrCat("mode native requested but the kernel has no tc -> netfilter pathway (",
                         capability_.Describe(),
                         "); boot a kernel with the tc_nf_redirect patch (kernel/patches/) or use "
                         "--mode=compat / --mode=auto"));
      }
      native_ = true;
      break;
    case nfr::v1::MODE_COMPAT:
      native_ = false;
      break;
    default:
      native_ = capability_.native();
      break;
  }
  CleanStaleAttachments(lock_->state_path(), *ifaces, native_);
  if (fail_closed_while_down_ && native_ && !config.queue().fail_closed()) {
    LogLine(
        "nfr-agent: restart.fail_closed_while_down in native mode also needs queue.fail_closed "
        "(kernel module parameter fail_closed=1); without it new flows pass while the agent is "
        "down");
  }

  if (auto st = datapath::PinMaps(prog_->object(), pin_dir_); !st.ok()) return st;
  pinned_ = true;

  const uint32_t queue_num = config.queue().num();
  const uint32_t queue_count = config.queue().count();
  const uint32_t mark = config.compat().mark();
  if (mark == 0) {
    return absl::InvalidArgumentError(
        "compat.mark is 0; set a non-zero skb mark bit, e.g. 0x01000000 (16777216)");
  }
  const uint32_t pending_ms = config.policy().pending_timeout_ms();

  base_flags_ = config.fail_closed() ? NFR_CFG_FAIL_CLOSED : 0;
  cfg_.mode = NFR_MODE_OFF;  // stays off until maps are filled
  cfg_.compat_mark = mark;
  cfg_.pending_ttl_ms = pending_ms + kPendingTtlMarginMs;
  const auto& budget = config.new_flow_budget();
  cfg_.budget_rate = budget.has_rate_per_second() ? budget.rate_per_second() : kDefaultNewFlowRate;
  cfg_.budget_burst = budget.burst() ? budget.burst() : 2 * cfg_.budget_rate;
  cfg_.layout_version = NFR_MAP_LAYOUT_VERSION;
  default_drop_ = config.policy().default_verdict() != nfr::v1::VERDICT_ACCEPT;

  selection_ = std::make_unique<datapath::SelectionWriter>(datapath::SelectionMapFds{
      prog_->sel_proto_fd(), prog_->sel_ports_fd(), prog_->sel_v4_fd(), prog_->sel_v6_fd()});
  if (auto st = UpdateSelection(config.selection()); !st.ok()) return st;

  for (const auto& w : *ifaces) {
    bool egress = w.egress && native_;
    if (w.egress && !native_) {
      LogLine(absl::StrCat("nfr-agent: ", w.name,
                           ": egress inspection needs native mode (kernel patch); attaching "
                           "ingress only"));
    }
    nfr_iface v = {NFR_IF_INGRESS | (egress ? NFR_IF_EGRESS : 0u) |
                   (datapath::IsL3Device(w.name) ? NFR_IF_L3 : 0u)};
    uint32_t k = static_cast<uint32_t>(w.ifindex);
    if (int err = bpf_map_update_elem(prog_->ifaces_fd(), &k, &v, BPF_ANY)) {
      return absl::InternalError(
          absl::StrCat("writing BPF map nfr_ifaces failed: ", strerror(-err)));
    }
    if (k < NFR_IFIDX_MAX) {
      if (int err = bpf_map_update_elem(prog_->ifidx_fd(), &k, &v, BPF_ANY)) {
        return absl::InternalError(
            absl::StrCat("writing BPF map nfr_ifidx failed: ", strerror(-err)));
      }
    }
    interface_names_.push_back(egress ? w.name + ":egress" : w.name);
  }

  {
    std::lock_guard<std::mutex> l(mu_);
    cfg_.mode = native_ ? NFR_MODE_NATIVE : NFR_MODE_COMPAT;
  }
  if (auto st = WriteConfig(Flags(selection_flags_)); !st.ok()) return st;

  if (native_) {
    auto st = datapath::EnsureKmodLoaded({queue_num, queue_count, config.queue().fail_closed()});
    if (!st.ok()) return st;
  } else {
    auto rule = datapath::CompatRule::Install(
        {mark, queue_num, queue_count, /*bypass=*/!fail_closed_while_down_},
        config.compat().backend());
    if (!rule.ok()) return rule.status();
    compat_ = std::move(*rule);
  }
  const int removed = datapath::RemoveCompatRules(
      stale_rules, /*nft_table_in_use=*/compat_ && compat_->backend() == "nftables");
  if (removed > 0) {
    LogLine(absl::StrCat("nfr-agent: replaced ", removed,
                         " compat rule(s) left by a previous agent (new rule added first)"));
  }

  for (const auto& w : *ifaces) {
    for (auto dir : Directions(w, native_)) {
      // Record first: a crash right after attaching must still be cleanable.
      attached_.push_back({w.ifindex, w.name, dir});
      SaveRunState();
      int fd = dir == datapath::TcDirection::kIngress ? prog_->ingress_fd() : prog_->egress_fd();
      if (auto st = datapath::TcAttach(w.ifindex, w.name, dir, fd); !st.ok()) {
        attached_.pop_back();
        SaveRunState();
        return st;
      }
    }
  }
  started_ = true;
  return absl::OkStatus();
}

void Datapath::SaveRunState() {
  datapath::RunState s;
  s.netns_ino = datapath::CurrentNetnsIno();
  s.attachments = attached_;
  datapath::WriteRunState(lock_->state_path(), s);
}

Datapath::~Datapath() {
  // restart.fail_closed_while_down: the program, the queue rule (no bypass) and the run state
  // stay for the next agent, which replaces them.
  const bool hold = started_ && fail_closed_while_down_;
  if (hold) {
    LogLine(
        "nfr-agent: leaving the tc program and the queue path in place "
        "(restart.fail_closed_while_down): new flows are dropped until the next agent starts");
    attached_.clear();
    if (compat_) compat_->Keep();
  }
  if (prog_) {
    for (const auto& a : attached_) {
      uint32_t id =
          a.dir == datapath::TcDirection::kIngress ? prog_->ingress_id() : prog_->egress_id();
      auto st = datapath::TcDetach(a.ifindex, a.dir, id);
      if (!st.ok()) LogLine(absl::StrCat("nfr-agent: ", st.message()));
    }
  }
  attached_.clear();
  if (compat_) {
    auto st = compat_->Remove();
    if (!st.ok()) LogLine(absl::StrCat("nfr-agent: removing compat rule: ", st.message()));
    compat_.reset();
  }
  // Pins stay for the next agent (restart.keep_flow_cache) once they hold something worth keeping.
  if (pinned_ && !(keep_flow_cache_ && (started_ || !adopted_.empty()))) {
    datapath::UnpinMaps(pin_dir_);
  }
  prog_.reset();
  if (lock_ && !hold) datapath::RemoveRunState(lock_->state_path());
  lock_.reset();
}

uint32_t Datapath::Flags(uint32_t selection_flags) const {
  return base_flags_ | selection_flags | (default_drop_ ? NFR_CFG_DEFAULT_DROP : 0u);
}

absl::Status Datapath::WriteConfig(uint32_t flags) {
  uint32_t zero = 0;
  nfr_config c = cfg_;
  c.flags = flags;
  if (int err = bpf_map_update_elem(prog_->config_fd(), &zero, &c, BPF_ANY)) {
    return absl::InternalError(absl::StrCat("writing BPF map nfr_config failed: ", strerror(-err)));
  }
  cfg_ = c;
  return absl::OkStatus();
}

DatapathStatus Datapath::status() const {
  DatapathStatus s;
  s.mode = native_ ? "native" : "compat";
  s.capability = capability_;
  s.compat_backend = compat_ ? compat_->backend() : "";
  s.interfaces = interface_names_;
  return s;
}

absl::Status Datapath::SetDefaultVerdict(bool drop) {
  std::lock_guard<std::mutex> l(mu_);
  default_drop_ = drop;
  return WriteConfig(Flags(selection_flags_));
}

absl::Status Datapath::UpdateSelection(const nfr::v1::SelectionConfig& selection) {
  auto next = datapath::CompileSelection(selection);
  if (!next.ok()) return next.status();
  std::lock_guard<std::mutex> l(mu_);
  if (auto st = selection_->AddEntries(*next); !st.ok()) return st;
  if (auto st = WriteConfig(Flags(next->flags())); !st.ok()) return st;
  selection_flags_ = next->flags();
  if (auto st = selection_->RemoveStale(*next); !st.ok()) return st;
  selection_->Commit(*std::move(next));
  return absl::OkStatus();
}

absl::Status Datapath::SetPendingTimeout(absl::Duration timeout) {
  std::lock_guard<std::mutex> l(mu_);
  cfg_.pending_ttl_ms =
      static_cast<uint32_t>(absl::ToInt64Milliseconds(timeout)) + kPendingTtlMarginMs;
  return WriteConfig(cfg_.flags);
}

std::vector<uint64_t> Datapath::ReadStats() const { return datapath::ReadStats(prog_->stats_fd()); }

}  // namespace nfr
