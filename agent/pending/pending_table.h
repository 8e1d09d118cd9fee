// Bounded, thread-safe table of flows waiting for a verdict: one entry per flow
// key however many packets it holds, each with a deadline for the default verdict.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nfr/v1/flow.pb.h"
#include "nfr_abi.h"

namespace nfr {

// One packet held in an NFQUEUE: which queue, which packet id.
struct PacketRef {
  uint16_t queue = 0;
  uint32_t id = 0;
};

struct PendingLimits {
  uint32_t max_flows = 4096;
  uint32_t max_packets_per_flow = 32;
};

struct ResolvedPending {
  nfr::v1::PendingConnection info;  // as it was when it left the table
  nfr_flow_key key;
  std::vector<PacketRef> packets;  // every held packet: each needs a verdict
};

class PendingTable {
 public:
  enum class Outcome {
    kAdded,        // new entry; `added` describes it
    kJoined,       // packet held with an existing entry
    kPacketLimit,  // entry exists but holds max_packets_per_flow: give a verdict now
    kTableFull,    // max_flows reached: give the default verdict now
    kNotPending,   // Join only: no entry for this flow
  };
  struct AddResult {
    Outcome outcome;
    uint64_t id = 0;  // the entry, for kAdded / kJoined / kPacketLimit
    nfr::v1::PendingConnection added;
  };
  struct Counters {
    uint64_t added = 0;
    uint64_t joined = 0;
    uint64_t packet_overflow = 0;
    uint64_t flow_overflow = 0;
    uint64_t expired = 0;
    uint64_t resolved = 0;
  };

  explicit PendingTable(PendingLimits limits) : limits_(limits) {}

  // Holds `packet` with the existing entry for `key`, if there is one.
  AddResult Join(const nfr_flow_key& key, PacketRef packet);
  // Holds `packet` with the entry for `key`, creating it (deadline now + timeout).
  AddResult Add(const nfr_flow_key& key, PacketRef packet, const nfr::v1::Flow& flow,
                const std::string& rule_id, absl::Time now, absl::Duration timeout);

  // Removes an entry (a decision was made). nullopt if unknown.
  std::optional<ResolvedPending> Resolve(uint64_t id);
  // Removes every entry whose deadline is <= now.
  std::vector<ResolvedPending> ExpireDue(absl::Time now);
  // Removes everything (shutdown).
  std::vector<ResolvedPending> TakeAll();

  std::optional<absl::Time> NextDeadline() const;
  std::optional<nfr::v1::PendingConnection> Get(uint64_t id) const;
  std::optional<nfr_flow_key> KeyOf(uint64_t id) const;
  std::vector<nfr::v1::PendingConnection> Snapshot() const;
  size_t size() const;
  Counters counters() const;

 private:
  struct Key {
    nfr_flow_key k;
    bool operator==(const Key& o) const { return std::memcmp(&k, &o.k, sizeof(k)) == 0; }
    template <typename H>
    friend H AbslHashValue(H h, const Key& key) {
      return H::combine_contiguous(std::move(h), reinterpret_cast<const unsigned char*>(&key.k),
                                   sizeof(key.k));
    }
  };
  struct Entry {
    Key key;
    nfr::v1::PendingConnection info;
    absl::Time deadline;
    std::vector<PacketRef> packets;
  };

  AddResult JoinLocked(Entry& e, PacketRef packet) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ResolvedPending RemoveLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  const PendingLimits limits_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Key, uint64_t> by_key_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nfr
