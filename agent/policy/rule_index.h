// First-match classification whose cost does not grow with the rule count.
// Each field (interface, direction, protocol, ports, addresses) maps the
// packet's value to a class; a class lists its candidate rules as sparse
// bitmaps, one per constraint group (the set of fields a rule constrains).
// Within a group the lowest rule present in every list of its fields matches;
// the lowest such rule over all groups wins, exactly as a linear scan would.
// A group's intersection is driven by its shortest list; protocol, direction,
// interface and a rule's own ports are then checked against a 16-byte record
// of each candidate instead of searching their (long) lists.
// A rule's own port range wider than kMaxIndexedPortSpan is not listed under
// every port it covers (100k rules with such ranges made a 70 MiB index): the
// rule is indexed as if its ports were any and its ports are checked (from its
// record) once its other fields agree.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/packet/packet_parser.h"
#include "agent/policy/index_arena.h"
#include "agent/policy/interval_map.h"
#include "agent/policy/prefix.h"
#include "nfr/v1/policy.pb.h"

namespace nfr {

struct PortInterval {
  uint16_t first, last;  // inclusive
};

// A rule's matchers; set references index IndexSet (-1: none).
struct IndexRule {
  std::string interface;  // empty: any
  nfr::v1::Direction direction = nfr::v1::DIRECTION_ANY;
  uint8_t protocol = 0;  // 0: any
  std::vector<Prefix> src, dst;
  std::vector<PortInterval> sports, dports;
  int src_set = -1, dst_set = -1, sport_set = -1, dport_set = -1;
};

struct IndexSet {
  std::vector<Prefix> prefixes;
  std::vector<PortInterval> ports;
};

// Upper bound on candidate-list entries (12 bytes each) the index may hold;
// only pathological overlap (many wide prefixes or port ranges each containing
// many narrow ones) reaches it.
inline constexpr int64_t kMaxIndexEntries = 8 << 20;
inline constexpr uint32_t kMaxIndexedPortSpan = 32;

class RuleIndex {
 public:
  // INVALID_ARGUMENT when the rules overlap too much to index within kMaxIndexEntries.
  static absl::StatusOr<RuleIndex> Build(const std::vector<IndexRule>& rules,
                                         const std::vector<IndexSet>& sets);

  // Index of the first matching rule, or -1.
  int Match(const PacketInfo& packet, absl::string_view interface,
            nfr::v1::Direction direction) const;

  // What one lookup touched, for bench/classify --explain.
  struct MatchStats {
    int groups = 0;        // groups whose field classes all have candidates
    int groups_tried = 0;  // of those, not skipped because an earlier rule already won
    int lists = 0;         // candidate lists (spans) read
    int words = 0;         // words read from those lists
    int searches = 0;      // binary searches within a list
    int rules = 0;         // candidate rules checked
  };
  int MatchWithStats(const PacketInfo& packet, absl::string_view interface,
                     nfr::v1::Direction direction, MatchStats* stats) const;

  size_t MemoryBytes() const;
  // Bytes per part, for bench/classify --explain.
  std::string MemoryBreakdown() const;

 private:
  template <bool kStats>
  int MatchImpl(const PacketInfo& packet, absl::string_view interface, nfr::v1::Direction direction,
                MatchStats* stats) const;
  enum Field { kIface, kDir, kProto, kSport, kDport, kSrc, kDst, kNumFields };
  using GroupMask = Uint128;  // bit g: constraint group g (a mask of Fields)
  static constexpr int kNumGroups = 1 << kNumFields;

  // 12 bytes, not 16: the bits as two halves so the struct needs only 4-byte alignment.
  struct Word {
    uint32_t lo, hi;  // bit i of the 64 stands for the group's rule 64 * index + i
    uint32_t index;
    uint64_t bits() const { return uint64_t{hi} << 32 | lo; }
    void Or(uint64_t b) {
      lo |= static_cast<uint32_t>(b);
      hi |= static_cast<uint32_t>(b >> 32);
    }
  };
  static constexpr uint32_t kSingleWord = 0x80000000u;
  // Per class, at its id (an offset into `classes`), so one cache line usually
  // holds both: the groups with candidates in the class (4 words, low first), then
  // each such group's word list, in group order, as 3 words: (offset, size, 0) into
  // `words`, or a list of one word in place: (lo, hi, index | kSingleWord).
  struct ClassTable {
    IndexVector<uint32_t> classes;
    IndexVector<Word> words;
    uint32_t count = 0;
    GroupMask Groups(uint32_t c) const {
      const uint32_t* g = classes.data() + c;
      return (Uint128{uint64_t{g[3]} << 32 | g[2]} << 64) | (uint64_t{g[1]} << 32 | g[0]);
    }
    const uint32_t* SpanOf(uint32_t c, int rank) const { return classes.data() + c + 4 + 3 * rank; }
    size_t MemoryBytes() const;
  };
  // What a candidate rule's cheap fields must be, so that one read of it replaces a
  // binary search in a long protocol, direction, interface or port list. It holds the
  // rule's own ports (not a set's), wide ranges included, so they are always checked
  // here; up to two ranges inline, more in record_ports_.
  struct RuleRecord {
    uint8_t protocol, direction, num_sports, num_dports;
    uint32_t iface_class;
    union {
      PortInterval inline_ports[2];  // num_sports + num_dports <= 2: sources first
      uint32_t ports;                // else record_ports_[ports, +num_sports + num_dports)
    };
  };
  bool RecordMatches(const RuleRecord& r, uint8_t fields, const PacketInfo& p,
                     nfr::v1::Direction direction, uint32_t iface_class) const;
  friend class RuleIndexBuilder;

  void MoveIntoArena();
  // First, so it is destroyed last: the arrays below may live in it.
  std::unique_ptr<IndexArena> arena_;
  uint8_t active_fields_ = 0;
  std::array<ClassTable, kNumFields> tables_;
  std::array<GroupMask, kNumFields> unconstrained_{};  // groups not constraining a field
  GroupMask nonempty_groups_ = 0;
  std::array<uint32_t, kNumGroups> group_first_{};  // global index of a group's first rule
  std::array<IndexVector<uint32_t>, kNumGroups> group_rules_;  // group-local -> global index
  // Records of each group's rules in group order: records_[record_base_[g] + local].
  IndexVector<RuleRecord> records_;
  IndexVector<PortInterval> record_ports_;
  std::array<uint32_t, kNumGroups> record_base_{};
  std::array<uint8_t, kNumGroups> record_fields_{};  // fields of group g checked by record

  absl::flat_hash_map<std::string, uint32_t> iface_class_;
  std::array<uint32_t, 3> dir_class_{};
  std::array<uint32_t, 256> proto_class_{};
  IndexVector<uint32_t> sport_class_, dport_class_;  // 65536 entries when the field is used
  IntervalMap<uint32_t> src_v4_, dst_v4_;
  IntervalMap<Uint128> src_v6_, dst_v6_;
};

}  // namespace nfr
