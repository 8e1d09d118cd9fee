#include "agent/policy/set_delta.h"

#include <algorithm>
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

}  // namespace

absl::StatusOr<SetDeltaResult> ApplySetDelta(nfr::v1::Policy& policy, absl::string_view set_name,
                                             absl::Span<const std::string> add,
                                             absl::Span<const std::string> remove) {
  auto it = policy.mutable_sets()->find(std::string(set_name));
  if (it == policy.mutable_sets()->end()) {
    return absl::NotFoundError(
        absl::StrCat("set \"", set_name, "\" is not defined; add it to the policy's sets first"));
  }
  nfr::v1::Set& set = it->second;
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
