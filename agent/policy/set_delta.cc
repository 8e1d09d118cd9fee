#include "agent/policy/set_delta.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/policy_validation.h"
#include "agent/policy/prefix.h"

namespace nfr {
namespace {

absl::StatusOr<std::vector<Prefix>> ParseAll(absl::Span<const std::string> texts,
                                             absl::string_view field) {
  std::vector<Prefix> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto p = ParsePrefix(texts[i]);
    if (!p.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", p.status().message()));
    }
    out.push_back(*p);
  }
  return out;
}

using PortKey = std::pair<uint32_t, uint32_t>;

absl::StatusOr<std::vector<PortKey>> PortKeys(absl::Span<const nfr::v1::PortRange> ranges,
                                              absl::string_view field) {
  std::vector<PortKey> out;
  out.reserve(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const uint32_t first = ranges[i].first();
    const uint32_t last = ranges[i].last() == 0 ? first : ranges[i].last();
    if (first == 0 || first > 65535 || last > 65535 || last < first) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: ports must be 1..65535 with first <= last (got ",
                       ranges[i].first(), "-", ranges[i].last(), ")"));
    }
    out.emplace_back(first, last);
  }
  return out;
}

absl::StatusOr<nfr::v1::Set*> FindSet(nfr::v1::Policy& policy, absl::string_view set_name) {
  auto it = policy.mutable_sets()->find(std::string(set_name));
  if (it == policy.mutable_sets()->end()) {
    return absl::NotFoundError(
        absl::StrCat("set \"", set_name, "\" is not defined; add it to the policy's sets first"));
  }
  return &it->second;
}

}  // namespace

absl::StatusOr<SetDeltaResult> ApplyPortSetDelta(nfr::v1::Policy& policy,
                                                 absl::string_view set_name,
                                                 absl::Span<const nfr::v1::PortRange> add,
                                                 absl::Span<const nfr::v1::PortRange> remove) {
  absl::StatusOr<nfr::v1::Set*> found = FindSet(policy, set_name);
  if (!found.ok()) return found.status();
  nfr::v1::Set& set = **found;
  if (!set.prefixes().empty() && !add.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "set \"", set_name, "\" holds prefixes, not ports; add ports to a port set"));
  }
  auto to_add = PortKeys(add, "add_ports");
  if (!to_add.ok()) return to_add.status();
  auto to_remove = PortKeys(remove, "remove_ports");
  if (!to_remove.ok()) return to_remove.status();
  const std::set<PortKey> removing(to_remove->begin(), to_remove->end());
  std::set<PortKey> kept, hit;
  SetDeltaResult result;
  google::protobuf::RepeatedPtrField<nfr::v1::PortRange> next;
  for (const nfr::v1::PortRange& r : set.ports()) {
    const PortKey k(r.first(), r.last() == 0 ? r.first() : r.last());
    if (removing.count(k) > 0) {
      hit.insert(k);
      ++result.removed;
      continue;
    }
    kept.insert(k);
    *next.Add() = r;
  }
  result.absent = static_cast<int>(removing.size() - hit.size());
  for (const PortKey& k : *to_add) {
    if (!kept.insert(k).second) {
      ++result.already_present;
      continue;
    }
    nfr::v1::PortRange* r = next.Add();
    r->set_first(k.first);
    if (k.second != k.first) r->set_last(k.second);
    ++result.added;
  }
  result.size = next.size();
  if (result.size > kMaxSetPortRanges) {
    return absl::InvalidArgumentError(absl::StrCat("add_ports: set \"", set_name,
                                                   "\" would hold ", result.size,
                                                   " port ranges, over the limit of ",
                                                   kMaxSetPortRanges, "; merge ranges"));
  }
  set.mutable_ports()->Swap(&next);
  return result;
}

absl::StatusOr<SetDeltaResult> ApplySetDelta(nfr::v1::Policy& policy, absl::string_view set_name,
                                             absl::Span<const std::string> add,
                                             absl::Span<const std::string> remove) {
  absl::StatusOr<nfr::v1::Set*> found = FindSet(policy, set_name);
  if (!found.ok()) return found.status();
  nfr::v1::Set& set = **found;
  if (!set.ports().empty() && !add.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "set \"", set_name, "\" holds ports, not prefixes; add prefixes to a prefix set"));
  }
  auto to_add = ParseAll(add, "add");
  if (!to_add.ok()) return to_add.status();
  auto to_remove = ParseAll(remove, "remove");
  if (!to_remove.ok()) return to_remove.status();

  SetDeltaResult result;
  const absl::flat_hash_set<Prefix> removing(to_remove->begin(), to_remove->end());
  absl::flat_hash_set<Prefix> kept, removed;
  kept.reserve(set.prefixes_size());
  std::vector<bool> drop(set.prefixes_size(), false);
  for (int i = 0; i < set.prefixes_size(); ++i) {
    auto p = ParsePrefix(set.prefixes(i));
    if (!p.ok()) continue;  // left for validation to report
    if (removing.contains(*p)) {
      drop[i] = true;
      removed.insert(*p);
    } else {
      kept.insert(*p);
    }
  }
  std::vector<const Prefix*> adding;
  for (const Prefix& p : *to_add) {
    if (kept.insert(p).second) {
      adding.push_back(&p);
    } else {
      ++result.already_present;
    }
  }
  result.removed = static_cast<int>(std::count(drop.begin(), drop.end(), true));
  result.absent = static_cast<int>(removing.size() - removed.size());
  result.added = static_cast<int>(adding.size());
  result.size = set.prefixes_size() - result.removed + result.added;
  if (result.size > kMaxSetPrefixes) {
    return absl::InvalidArgumentError(absl::StrCat("set \"", set_name, "\" would hold ",
                                                   result.size, " prefixes, over the limit of ",
                                                   kMaxSetPrefixes, "; split the set"));
  }
  if (result.removed > 0) {
    auto* prefixes = set.mutable_prefixes();
    int out = 0;
    for (int i = 0; i < prefixes->size(); ++i) {
      if (drop[i]) continue;
      if (out != i) prefixes->Mutable(out)->swap(*prefixes->Mutable(i));
      ++out;
    }
    prefixes->DeleteSubrange(out, prefixes->size() - out);
  }
  for (const Prefix* p : adding) set.add_prefixes(p->ToString());
  return result;
}

}  // namespace nfr
