#include "agent/policy/rule_index.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nfr {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

int Lowest(Uint128 m) {
  const uint64_t lo = static_cast<uint64_t>(m);
  return lo ? absl::countr_zero(lo) : 64 + absl::countr_zero(static_cast<uint64_t>(m >> 64));
}

int PopCount(Uint128 m) {
  return absl::popcount(static_cast<uint64_t>(m)) + absl::popcount(static_cast<uint64_t>(m >> 64));
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

template <typename K>
struct Item {
  K lo, hi;
  uint32_t label;
};

}  // namespace

size_t RuleIndex::ClassTable::MemoryBytes() const {
  return classes.capacity() * 4 + words.capacity() * sizeof(Word);
}

// Builds one RuleIndex; labels are what a field's values can be tagged with:
// label r < rules.size() is rule r's own list, label rules.size() + s is set s.
class RuleIndexBuilder {
 public:
  RuleIndexBuilder(const std::vector<IndexRule>& rules, const std::vector<IndexSet>& sets,
                   RuleIndex* out)
      : rules_(rules), sets_(sets), out_(*out) {}

  absl::Status Build() {
    AssignGroups();
    BuildIface();
    BuildDir();
    BuildProto();
    for (auto field : {RuleIndex::kSport, RuleIndex::kDport}) {
      if (auto s = BuildPorts(field); !s.ok()) return s;
    }
    for (auto field : {RuleIndex::kSrc, RuleIndex::kDst}) {
      if (auto s = BuildAddresses(field); !s.ok()) return s;
    }
    return BuildRecords();
  }

 private:
  using Field = RuleIndex::Field;

  static bool Wide(const std::vector<PortInterval>& ports) {
    return std::any_of(ports.begin(), ports.end(), [](const PortInterval& p) {
      return uint32_t{p.last} - p.first + 1 > kMaxIndexedPortSpan;
    });
  }

  // Rules with wide port ranges are not listed under their ports (their records check them).
  void AssignChecks() {
    checked_.assign(rules_.size(), 0);
    for (size_t r = 0; r < rules_.size(); ++r) {
      checked_[r] = (Wide(rules_[r].sports) ? 1 : 0) | (Wide(rules_[r].dports) ? 2 : 0);
    }
  }

  uint8_t ConstraintMask(size_t i) const {
    const IndexRule& r = rules_[i];
    uint8_t m = 0;
    if (!r.interface.empty()) m |= 1 << RuleIndex::kIface;
    if (r.direction != nfr::v1::DIRECTION_ANY) m |= 1 << RuleIndex::kDir;
    if (r.protocol != 0) m |= 1 << RuleIndex::kProto;
    if ((!r.sports.empty() && !(checked_[i] & 1)) || r.sport_set >= 0) m |= 1 << RuleIndex::kSport;
    if ((!r.dports.empty() && !(checked_[i] & 2)) || r.dport_set >= 0) m |= 1 << RuleIndex::kDport;
    if (!r.src.empty() || r.src_set >= 0) m |= 1 << RuleIndex::kSrc;
    if (!r.dst.empty() || r.dst_set >= 0) m |= 1 << RuleIndex::kDst;
    return m;
  }

  void AssignGroups() {
    AssignChecks();
    out_.group_first_.fill(kNone);
    group_.resize(rules_.size());
    local_.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      const uint8_t g = ConstraintMask(r);
      group_[r] = g;
      local_[r] = static_cast<uint32_t>(out_.group_rules_[g].size());
      out_.group_rules_[g].push_back(static_cast<uint32_t>(r));
      if (out_.group_first_[g] == kNone) out_.group_first_[g] = static_cast<uint32_t>(r);
      out_.nonempty_groups_ |= Uint128{1} << g;
      out_.active_fields_ |= g;
    }
    for (int f = 0; f < RuleIndex::kNumFields; ++f) {
      for (int g = 0; g < RuleIndex::kNumGroups; ++g) {
        if (!(g & (1 << f))) out_.unconstrained_[f] |= Uint128{1} << g;
      }
      AddClass(static_cast<Field>(f), {});  // class 0: no candidates
    }
  }

  // `rules` sorted ascending, unique.
  uint32_t AddClass(Field f, const std::vector<uint32_t>& rules) {
    RuleIndex::ClassTable& t = out_.tables_[f];
    const uint32_t id = static_cast<uint32_t>(t.classes.size());
    std::vector<std::pair<uint8_t, uint32_t>> keyed;
    keyed.reserve(rules.size());
    for (uint32_t r : rules) keyed.emplace_back(group_[r], local_[r]);
    std::sort(keyed.begin(), keyed.end());
    RuleIndex::GroupMask groups = 0;
    t.classes.resize(id + 4);
    for (size_t i = 0; i < keyed.size();) {
      const uint8_t g = keyed[i].first;
      groups |= Uint128{1} << g;
      const uint32_t offset = static_cast<uint32_t>(t.words.size());
      for (; i < keyed.size() && keyed[i].first == g; ++i) {
        const uint32_t w = keyed[i].second / 64;
        const uint64_t bit = uint64_t{1} << (keyed[i].second % 64);
        if (t.words.size() > offset && t.words.back().index == w) {
          t.words.back().Or(bit);
        } else {
          RuleIndex::Word word{0, 0, w};
          word.Or(bit);
          t.words.push_back(word);
        }
      }
      if (t.words.size() == offset + 1) {  // one word: kept here, not in `words`
        const RuleIndex::Word word = t.words.back();
        t.words.pop_back();
        t.classes.insert(t.classes.end(), {word.lo, word.hi, word.index | RuleIndex::kSingleWord});
      } else {
        t.classes.insert(t.classes.end(),
                         {offset, static_cast<uint32_t>(t.words.size() - offset), 0});
      }
    }
    for (int i = 0; i < 4; ++i) t.classes[id + i] = static_cast<uint32_t>(groups >> (32 * i));
    ++t.count;
    return id;
  }

  void BuildIface() {
    absl::flat_hash_map<std::string, std::vector<uint32_t>> by_name;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (!rules_[r].interface.empty()) by_name[rules_[r].interface].push_back(r);
    }
    for (const auto& [name, rules] : by_name) {
      out_.iface_class_[name] = AddClass(RuleIndex::kIface, rules);
    }
  }

  void BuildDir() {
    for (auto d : {nfr::v1::DIRECTION_INGRESS, nfr::v1::DIRECTION_EGRESS}) {
      std::vector<uint32_t> rules;
      for (size_t r = 0; r < rules_.size(); ++r) {
        if (rules_[r].direction == d) rules.push_back(r);
      }
      if (!rules.empty()) out_.dir_class_[d] = AddClass(RuleIndex::kDir, rules);
    }
  }

  void BuildProto() {
    std::array<std::vector<uint32_t>, 256> by_proto;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (rules_[r].protocol != 0) by_proto[rules_[r].protocol].push_back(r);
    }
    for (int p = 1; p < 256; ++p) {
      if (!by_proto[p].empty()) out_.proto_class_[p] = AddClass(RuleIndex::kProto, by_proto[p]);
    }
  }

  // Which of a group's fields its records can check: protocol, direction and
  // interface always; ports when every rule of the group lists its own (no set).
  absl::Status BuildRecords() {
    constexpr uint8_t kCheap =
        1 << RuleIndex::kIface | 1 << RuleIndex::kDir | 1 << RuleIndex::kProto;
    size_t total = 0;
    for (int g = 0; g < RuleIndex::kNumGroups; ++g) {
      uint8_t fields = g & (kCheap | 1 << RuleIndex::kSport | 1 << RuleIndex::kDport);
      for (uint32_t r : out_.group_rules_[g]) {
        if (rules_[r].sport_set >= 0) fields &= ~(1 << RuleIndex::kSport);
        if (rules_[r].dport_set >= 0) fields &= ~(1 << RuleIndex::kDport);
      }
      out_.record_fields_[g] = fields;
      out_.record_base_[g] = static_cast<uint32_t>(total);
      total += out_.group_rules_[g].size();
    }
    out_.records_.reserve(total);
    auto& ports = out_.record_ports_;
    for (int g = 0; g < RuleIndex::kNumGroups; ++g) {
      for (uint32_t r : out_.group_rules_[g]) {
        const IndexRule& rule = rules_[r];
        if (rule.sports.size() > 255 || rule.dports.size() > 255) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rules[", r, "]: more than 255 port ranges on one side; merge them or use a set"));
        }
        RuleIndex::RuleRecord rec{};
        rec.protocol = rule.protocol;
        rec.direction = static_cast<uint8_t>(rule.direction);
        if (!rule.interface.empty()) rec.iface_class = out_.iface_class_.at(rule.interface);
        rec.num_sports = static_cast<uint8_t>(rule.sports.size());
        rec.num_dports = static_cast<uint8_t>(rule.dports.size());
        if (rule.sports.size() + rule.dports.size() <= 2) {
          int i = 0;
          for (const auto& p : rule.sports) rec.inline_ports[i++] = p;
          for (const auto& p : rule.dports) rec.inline_ports[i++] = p;
        } else {
          rec.ports = static_cast<uint32_t>(ports.size());
          ports.insert(ports.end(), rule.sports.begin(), rule.sports.end());
          ports.insert(ports.end(), rule.dports.begin(), rule.dports.end());
        }
        out_.records_.push_back(rec);
      }
    }
    ports.shrink_to_fit();
    return absl::OkStatus();
  }

  // Labels of one field: which rules each stands for.
  struct Labels {
    std::vector<std::vector<uint32_t>> set_rules;  // per set: rules referring to it here
    absl::flat_hash_map<std::pair<uint64_t, uint64_t>, uint32_t> classes;  // label-set hash
  };

  template <typename Get>
  Labels LabelsFor(Get set_of) {
    Labels l;
    l.set_rules.resize(sets_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (int s = set_of(rules_[r]); s >= 0) l.set_rules[s].push_back(r);
    }
    l.classes[{0, 0}] = 0;
    return l;
  }

  // Sweeps the items' boundaries in key order, tracking which labels cover the
  // current interval (by count, so overlapping items of one label are fine) and
  // a 128-bit Zobrist hash of that set, which names the class.
  template <typename K>
  absl::Status Sweep(Field f, Labels& labels, std::vector<Item<K>> items, K max_key,
                     std::vector<K>* starts, std::vector<uint32_t>* classes) {
    struct Event {
      K key;
      uint32_t label;
      int32_t delta;
    };
    std::vector<Event> events;
    events.reserve(items.size() * 2);
    for (const auto& it : items) {
      events.push_back({it.lo, it.label, 1});
      if (it.hi != max_key) events.push_back({it.hi + 1, it.label, -1});
    }
    std::vector<Item<K>>().swap(items);
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.key < b.key; });
    const size_t num_labels = rules_.size() + sets_.size();
    std::vector<uint32_t> count(num_labels, 0), pos(num_labels, 0), active;
    uint64_t h1 = 0, h2 = 0;
    starts->assign(1, 0);
    classes->assign(1, 0);
    for (size_t i = 0; i < events.size();) {
      const K key = events[i].key;
      for (; i < events.size() && events[i].key == key; ++i) {
        const uint32_t label = events[i].label;
        const bool was = count[label] != 0;
        count[label] += events[i].delta;
        if (was == (count[label] != 0)) continue;
        h1 ^= SplitMix(2 * uint64_t{label});
        h2 ^= SplitMix(2 * uint64_t{label} + 1);
        if (!was) {
          pos[label] = static_cast<uint32_t>(active.size());
          active.push_back(label);
        } else {
          active[pos[label]] = active.back();
          pos[active.back()] = pos[label];
          active.pop_back();
        }
      }
      auto [it, fresh] = labels.classes.try_emplace({h1, h2}, 0);
      if (fresh) {
        std::vector<uint32_t> rules;
        for (uint32_t label : active) {
          if (label < rules_.size()) {
            rules.push_back(label);
          } else {
            const auto& more = labels.set_rules[label - rules_.size()];
            rules.insert(rules.end(), more.begin(), more.end());
          }
        }
        std::sort(rules.begin(), rules.end());
        rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
        entries_ += static_cast<int64_t>(rules.size());
        if (entries_ > kMaxIndexEntries) return TooComplex(f);
        it->second = AddClass(f, rules);
      }
      if (key == starts->back()) {
        classes->back() = it->second;
      } else if (it->second != classes->back()) {
        starts->push_back(key);
        classes->push_back(it->second);
      }
    }
    return absl::OkStatus();
  }

  static absl::Status TooComplex(Field f) {
    static constexpr const char* kNames[] = {
        "interfaces",        "directions",      "protocols",           "source ports",
        "destination ports", "source prefixes", "destination prefixes"};
    return absl::InvalidArgumentError(absl::StrCat(
        "rules: the rules' ", kNames[f], " overlap too much to index (more than ", kMaxIndexEntries,
        " candidate entries); many rules with wide ranges each contain many narrower ones. "
        "Put the narrow prefixes or ports in a set, or merge the wide rules"));
  }

  absl::Status BuildPorts(Field f) {
    const bool src = f == RuleIndex::kSport;
    if (!(out_.active_fields_ & (1 << f))) return absl::OkStatus();
    Labels labels =
        LabelsFor([src](const IndexRule& r) { return src ? r.sport_set : r.dport_set; });
    std::vector<Item<uint32_t>> items;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (checked_[r] & (src ? 1 : 2)) continue;
      for (const auto& p : src ? rules_[r].sports : rules_[r].dports) {
        items.push_back({p.first, p.last, static_cast<uint32_t>(r)});
      }
    }
    for (size_t s = 0; s < sets_.size(); ++s) {
      if (labels.set_rules[s].empty()) continue;
      for (const auto& p : sets_[s].ports) {
        items.push_back({p.first, p.last, static_cast<uint32_t>(rules_.size() + s)});
      }
    }
    std::vector<uint32_t> starts, classes;
    if (auto s = Sweep<uint32_t>(f, labels, std::move(items), 65535, &starts, &classes); !s.ok()) {
      return s;
    }
    IndexVector<uint32_t>& table = src ? out_.sport_class_ : out_.dport_class_;
    table.assign(65536, 0);
    for (size_t i = 0; i < starts.size(); ++i) {
      const uint32_t end = i + 1 < starts.size() ? starts[i + 1] : 65536;
      std::fill(table.begin() + starts[i], table.begin() + end, classes[i]);
    }
    return absl::OkStatus();
  }

  absl::Status BuildAddresses(Field f) {
    const bool src = f == RuleIndex::kSrc;
    if (!(out_.active_fields_ & (1 << f))) return absl::OkStatus();
    Labels labels = LabelsFor([src](const IndexRule& r) { return src ? r.src_set : r.dst_set; });
    std::vector<Item<uint32_t>> v4;
    std::vector<Item<Uint128>> v6;
    auto add = [&](const Prefix& p, uint32_t label) {
      if (p.family == 4) {
        v4.push_back({p.FirstV4(), p.LastV4(), label});
      } else {
        v6.push_back({p.FirstV6(), p.LastV6(), label});
      }
    };
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const auto& p : src ? rules_[r].src : rules_[r].dst) add(p, static_cast<uint32_t>(r));
    }
    for (size_t s = 0; s < sets_.size(); ++s) {
      if (labels.set_rules[s].empty()) continue;
      for (const auto& p : sets_[s].prefixes) add(p, static_cast<uint32_t>(rules_.size() + s));
    }
    {
      std::vector<uint32_t> starts, classes;
      auto s = Sweep<uint32_t>(f, labels, std::move(v4), 0xffffffffu, &starts, &classes);
      if (!s.ok()) return s;
      (src ? out_.src_v4_ : out_.dst_v4_).Assign(std::move(starts), std::move(classes));
    }
    std::vector<Uint128> starts;
    std::vector<uint32_t> classes;
    auto s = Sweep<Uint128>(f, labels, std::move(v6), ~Uint128{0}, &starts, &classes);
    if (!s.ok()) return s;
    (src ? out_.src_v6_ : out_.dst_v6_).Assign(std::move(starts), std::move(classes));
    return absl::OkStatus();
  }

  const std::vector<IndexRule>& rules_;
  const std::vector<IndexSet>& sets_;
  RuleIndex& out_;
  std::vector<uint8_t> checked_;  // per rule: bit 0 source ports checked, bit 1 destination
  std::vector<uint8_t> group_;
  std::vector<uint32_t> local_;
  int64_t entries_ = 0;
};

absl::StatusOr<RuleIndex> RuleIndex::Build(const std::vector<IndexRule>& rules,
                                           const std::vector<IndexSet>& sets) {
  RuleIndex index;
  RuleIndexBuilder builder(rules, sets, &index);
  if (auto s = builder.Build(); !s.ok()) return s;
  for (auto& t : index.tables_) {
    t.classes.shrink_to_fit();
    t.words.shrink_to_fit();
  }
  index.MoveIntoArena();
  return index;
}

void RuleIndex::MoveIntoArena() {
  size_t bytes = ArenaBytes(records_) + ArenaBytes(record_ports_) + ArenaBytes(sport_class_) +
                 ArenaBytes(dport_class_) + src_v4_.ArenaSize() + dst_v4_.ArenaSize() +
                 src_v6_.ArenaSize() + dst_v6_.ArenaSize();
  for (const auto& t : tables_) bytes += ArenaBytes(t.classes) + ArenaBytes(t.words);
  for (const auto& g : group_rules_) bytes += ArenaBytes(g);
  if (bytes < IndexArena::kHugePage) return;  // no whole huge page to gain
  arena_ = IndexArena::Create(bytes);
  if (!arena_) return;
  IndexArena* a = arena_.get();
  // Most read first: each lookup reads the address maps, then classes, words, records.
  for (auto* m : {&src_v4_, &dst_v4_}) m->MoveInto(a);
  for (auto* m : {&src_v6_, &dst_v6_}) m->MoveInto(a);
  nfr::MoveIntoArena(sport_class_, a);
  nfr::MoveIntoArena(dport_class_, a);
  for (auto& t : tables_) {
    nfr::MoveIntoArena(t.classes, a);
    nfr::MoveIntoArena(t.words, a);
  }
  for (auto& g : group_rules_) nfr::MoveIntoArena(g, a);
  nfr::MoveIntoArena(records_, a);
  nfr::MoveIntoArena(record_ports_, a);
}

int RuleIndex::Match(const PacketInfo& p, absl::string_view interface,
                     nfr::v1::Direction direction) const {
  return MatchImpl<false>(p, interface, direction, nullptr);
}

int RuleIndex::MatchWithStats(const PacketInfo& p, absl::string_view interface,
                              nfr::v1::Direction direction, MatchStats* stats) const {
  *stats = {};
  return MatchImpl<true>(p, interface, direction, stats);
}

template <bool kStats>
int RuleIndex::MatchImpl(const PacketInfo& p, absl::string_view interface,
                         nfr::v1::Direction direction, MatchStats* stats) const {
  std::array<uint32_t, kNumFields> cls{};
  GroupMask candidates = nonempty_groups_;
  // Class 0 has no candidates: only the groups not constraining the field remain, and
  // its groups need not be read.
  auto narrow = [&](int f) {
    if (!(active_fields_ & (1 << f))) return;
    candidates &= cls[f] == 0 ? unconstrained_[f] : tables_[f].Groups(cls[f]) | unconstrained_[f];
  };
  // The address lookups are the expensive ones (radix bucket, then entries) and usually
  // decide alone that nothing matches: start their cache misses together, with the
  // port tables', and narrow by them first.
  uint32_t src4 = 0, dst4 = 0;
  Uint128 src6 = 0, dst6 = 0;
  if (p.family == 4) {
    src4 = AddrV4(p.src);
    dst4 = AddrV4(p.dst);
    src_v4_.Prefetch(src4);
    dst_v4_.Prefetch(dst4);
  } else if (p.family == 6) {
    src6 = AddrV6(p.src);
    dst6 = AddrV6(p.dst);
    src_v6_.Prefetch(src6);
    dst_v6_.Prefetch(dst6);
  }
  if (p.has_ports) {
    if (!sport_class_.empty()) __builtin_prefetch(&sport_class_[p.src_port]);
    if (!dport_class_.empty()) __builtin_prefetch(&dport_class_[p.dst_port]);
  }
  if (p.family == 4) {
    cls[kSrc] = src_v4_.Find(src4);
    cls[kDst] = dst_v4_.Find(dst4);
  } else if (p.family == 6) {
    cls[kSrc] = src_v6_.Find(src6);
    cls[kDst] = dst_v6_.Find(dst6);
  }
  if (cls[kSrc]) __builtin_prefetch(&tables_[kSrc].classes[cls[kSrc]]);
  if (cls[kDst]) __builtin_prefetch(&tables_[kDst].classes[cls[kDst]]);
  cls[kProto] = proto_class_[p.protocol];
  if (direction == nfr::v1::DIRECTION_INGRESS || direction == nfr::v1::DIRECTION_EGRESS) {
    cls[kDir] = dir_class_[direction];
  }
  narrow(kDst);
  narrow(kSrc);
  narrow(kProto);
  narrow(kDir);
  if (candidates == 0) return -1;
  if (p.has_ports) {
    if (!sport_class_.empty()) cls[kSport] = sport_class_[p.src_port];
    if (!dport_class_.empty()) cls[kDport] = dport_class_[p.dst_port];
  }
  narrow(kDport);
  narrow(kSport);
  if (candidates == 0) return -1;
  if (active_fields_ & (1 << kIface)) {
    auto it = iface_class_.find(interface);
    cls[kIface] = it == iface_class_.end() ? 0 : it->second;
    narrow(kIface);
  }
  uint32_t best = kNone;
  if constexpr (kStats) stats->groups = PopCount(candidates);
  while (candidates != 0) {
    const int g = Lowest(candidates);
    candidates &= candidates - 1;
    if (group_first_[g] >= best) continue;
    if constexpr (kStats) ++stats->groups_tried;
    if (g == 0) {
      const RuleRecord* records = records_.data() + record_base_[0];
      for (size_t l = 0; l < group_rules_[0].size(); ++l) {
        const uint32_t r = group_rules_[0][l];
        if (r >= best) break;
        if (RecordMatches(records[l], 0, p, direction, 0)) {
          best = r;
          break;
        }
      }
      continue;
    }
    // Lists of the group's fields; the group's candidates are their intersection. The
    // shortest drives it; fields the records check are not searched.
    const Word* begin[kNumFields];
    const Word* end[kNumFields];
    Word single[kNumFields];  // lists of one word, kept in the class itself
    const Word* field_begin[kNumFields];
    uint32_t field_size[kNumFields];
    int driver_field = 0;
    uint32_t driver_size = kNone;
    const GroupMask below = (GroupMask{1} << g) - 1;
    for (int f = 0; f < kNumFields; ++f) {
      if (!(g & (1 << f))) continue;
      const ClassTable& t = tables_[f];
      const uint32_t* s = t.SpanOf(cls[f], PopCount(t.Groups(cls[f]) & below));
      if constexpr (kStats) ++stats->lists;
      if (s[2] & kSingleWord) {
        single[f] = {s[0], s[1], s[2] & ~kSingleWord};
        field_begin[f] = &single[f];
        field_size[f] = 1;
      } else {
        field_begin[f] = t.words.data() + s[0];
        field_size[f] = s[1];
      }
      if (field_size[f] < driver_size) {
        driver_size = field_size[f];
        driver_field = f;
      }
    }
    // The driver first, then the fields the records do not check.
    begin[0] = field_begin[driver_field];
    end[0] = begin[0] + driver_size;
    int k = 1;
    for (int f = 0; f < kNumFields; ++f) {
      if (!(g & (1 << f)) || f == driver_field || (record_fields_[g] & (1 << f))) continue;
      begin[k] = field_begin[f];
      end[k] = begin[k] + field_size[f];
      ++k;
    }
    const uint8_t by_record = record_fields_[g] & ~(1 << driver_field);
    const RuleRecord* records = records_.data() + record_base_[g];
    // The group's first candidate is its only chance: later ones are later rules.
    const auto& members = group_rules_[g];
    uint32_t w = 0;
    bool found = false;
    uint32_t local = 0;
    while (!found) {
      if (best != kNone && (uint64_t{w} * 64 >= members.size() || members[w * 64] >= best)) break;
      bool agree = true;
      for (int i = 0; i < k; ++i) {
        if constexpr (kStats) ++stats->words;
        if (begin[i] != end[i] && begin[i]->index < w) {
          if constexpr (kStats) ++stats->searches;
          begin[i] = std::lower_bound(begin[i], end[i], w,
                                      [](const Word& x, uint32_t v) { return x.index < v; });
        }
        if (begin[i] == end[i]) {
          w = kNone;
          agree = false;
          break;
        }
        if (begin[i]->index > w) {
          w = begin[i]->index;
          agree = false;
          break;
        }
      }
      if (w == kNone) break;
      if (!agree) continue;
      uint64_t bits = ~uint64_t{0};
      for (int i = 0; i < k; ++i) bits &= begin[i]->bits();
      // The lowest candidate whose record matches; past `best`
      // nothing can win.
      bool stop = false;
      for (; bits != 0 && !found && !stop; bits &= bits - 1) {
        const uint32_t l = w * 64 + absl::countr_zero(bits);
        if constexpr (kStats) ++stats->rules;
        if (members[l] >= best) {
          stop = true;
        } else if (RecordMatches(records[l], by_record, p, direction, cls[kIface])) {
          local = l;
          found = true;
        }
      }
      if (found || stop) break;
      ++w;
    }
    if (found) best = members[local];
  }
  return best == kNone ? -1 : static_cast<int>(best);
}

// `fields`: which of protocol, direction, interface the record must check; the
// rule's own ports it always checks.
bool RuleIndex::RecordMatches(const RuleRecord& r, uint8_t fields, const PacketInfo& p,
                              nfr::v1::Direction direction, uint32_t iface_class) const {
  if ((fields & (1 << kProto)) && r.protocol != p.protocol) return false;
  if ((fields & (1 << kDir)) && r.direction != direction) return false;
  if ((fields & (1 << kIface)) && r.iface_class != iface_class) return false;
  if ((r.num_sports | r.num_dports) == 0) return true;
  if (!p.has_ports) return false;
  const PortInterval* ports =
      r.num_sports + r.num_dports <= 2 ? r.inline_ports : record_ports_.data() + r.ports;
  auto in = [](const PortInterval* begin, uint32_t n, uint16_t port) {
    if (n == 0) return true;
    for (const PortInterval* i = begin; i < begin + n; ++i) {
      if (port >= i->first && port <= i->last) return true;
    }
    return false;
  };
  return in(ports, r.num_sports, p.src_port) && in(ports + r.num_sports, r.num_dports, p.dst_port);
}

std::string RuleIndex::MemoryBreakdown() const {
  auto mib = [](size_t b) { return absl::StrFormat("%.2f", b / 1048576.0); };
  std::string out;
  static constexpr const char* kNames[] = {"iface", "dir", "proto", "sport", "dport", "src", "dst"};
  for (int f = 0; f < kNumFields; ++f) {
    const ClassTable& t = tables_[f];
    if (t.count <= 1) continue;
    absl::StrAppend(&out, kNames[f], ": ", t.count, " classes ", mib(t.classes.capacity() * 4),
                    " with their spans, words ", mib(t.words.capacity() * sizeof(Word)), " MiB; ");
  }
  size_t members = 0;
  for (const auto& g : group_rules_) members += g.capacity() * 4;
  absl::StrAppend(&out, "intervals src ", mib(src_v4_.MemoryBytes()), "+",
                  mib(src_v6_.MemoryBytes()), " dst ", mib(dst_v4_.MemoryBytes()), "+",
                  mib(dst_v6_.MemoryBytes()), " MiB (v4+v6); members ", mib(members), ", records ",
                  mib(records_.capacity() * sizeof(RuleRecord) +
                      record_ports_.capacity() * sizeof(PortInterval)),
                  ", port tables ", mib((sport_class_.capacity() + dport_class_.capacity()) * 4),
                  " MiB");
  return out;
}

size_t RuleIndex::MemoryBytes() const {
  static_assert(sizeof(Word) == 12 && sizeof(RuleRecord) == 16);
  size_t n = sizeof(*this);
  for (const auto& t : tables_) n += t.MemoryBytes();
  for (const auto& g : group_rules_) n += g.capacity() * 4;
  n += records_.capacity() * sizeof(RuleRecord) + record_ports_.capacity() * sizeof(PortInterval);
  n += (sport_class_.capacity() + dport_class_.capacity()) * 4;
  n +=
      src_v4_.MemoryBytes() + dst_v4_.MemoryBytes() + src_v6_.MemoryBytes() + dst_v6_.MemoryBytes();
  return n;
}

}  // namespace nfr
