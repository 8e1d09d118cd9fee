#include "agent/pending/pending_table.h"

#include "agent/util/proto_time.h"

namespace nfr {

PendingTable::AddResult PendingTable::JoinLocked(Entry& e, PacketRef packet) {
  const uint64_t id = e.info.id();
  if (e.packets.size() >= limits_.max_packets_per_flow) {
    ++counters_.packet_overflow;
    return {Outcome::kPacketLimit, id, {}};
  }
  e.packets.push_back(packet);
  e.info.set_packets(static_cast<uint32_t>(e.packets.size()));
  ++counters_.joined;
  return {Outcome::kJoined, id, {}};
}

PendingTable::AddResult PendingTable::Join(const nfr_flow_key& key, PacketRef packet) {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(Key{key});
  if (it == by_key_.end()) return {Outcome::kNotPending, 0, {}};
  return JoinLocked(entries_.at(it->second), packet);
}

PendingTable::AddResult PendingTable::Add(const nfr_flow_key& key, PacketRef packet,
                                          const nfr::v1::Flow& flow, const std::string& rule_id,
                                          absl::Time now, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (auto it = by_key_.find(Key{key}); it != by_key_.end()) {
    return JoinLocked(entries_.at(it->second), packet);
  }
  if (entries_.size() >= limits_.max_flows || limits_.max_packets_per_flow == 0) {
    ++counters_.flow_overflow;
    return {Outcome::kTableFull, 0, {}};
  }
  const uint64_t id = next_id_++;
  Entry& e = entries_[id];
  e.key = Key{key};
  e.deadline = now + timeout;
  e.packets.push_back(packet);
  e.info.set_id(id);
  *e.info.mutable_flow() = flow;
  *e.info.mutable_first_seen() = ToProtoTime(now);
  *e.info.mutable_deadline() = ToProtoTime(e.deadline);
  e.info.set_packets(1);
  e.info.set_rule_id(rule_id);
  by_key_[e.key] = id;
  deadlines_.emplace(e.deadline, id);
  ++counters_.added;
  return {Outcome::kAdded, id, e.info};
}

ResolvedPending PendingTable::RemoveLocked(uint64_t id) {
  auto node = entries_.extract(id);
  Entry& e = node.mapped();
  by_key_.erase(e.key);
  deadlines_.erase({e.deadline, id});
  return {std::move(e.info), e.key.k, std::move(e.packets)};
}

std::optional<ResolvedPending> PendingTable::Resolve(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (!entries_.contains(id)) return std::nullopt;
  ++counters_.resolved;
  return RemoveLocked(id);
}

std::vector<ResolvedPending> PendingTable::ExpireDue(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<ResolvedPending> out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    out.push_back(RemoveLocked(deadlines_.begin()->second));
    ++counters_.expired;
  }
  return out;
}

std::vector<ResolvedPending> PendingTable::TakeAll() {
  absl::MutexLock lock(&mu_);
  std::vector<ResolvedPending> out;
  while (!deadlines_.empty()) out.push_back(RemoveLocked(deadlines_.begin()->second));
  return out;
}

std::optional<absl::Time> PendingTable::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

std::optional<nfr_flow_key> PendingTable::KeyOf(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.key.k;
}

std::optional<nfr::v1::PendingConnection> PendingTable::Get(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<nfr::v1::PendingConnection> PendingTable::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<nfr::v1::PendingConnection> out;
  out.reserve(entries_.size());
  for (const auto& [deadline, id] : deadlines_) out.push_back(entries_.at(id).info);
  return out;
}

size_t PendingTable::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

PendingTable::Counters PendingTable::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}


}  // namespace nfr
