#include "fleetd/selector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nfr {

absl::StatusOr<Selector> Selector::Parse(const std::string& text, const std::string& field) {
  Selector s;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", part, "\" is not key=value; write e.g. site=berlin,tier=edge"));
    }
    s.pairs_.emplace_back(std::string(absl::StripAsciiWhitespace(part.substr(0, eq))),
                          std::string(absl::StripAsciiWhitespace(part.substr(eq + 1))));
  }
  std::sort(s.pairs_.begin(), s.pairs_.end());
  return s;
}

bool Selector::Matches(const google::protobuf::Map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : pairs_) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

Selector Selector::And(const Selector& other) const {
  Selector s = *this;
  s.pairs_.insert(s.pairs_.end(), other.pairs_.begin(), other.pairs_.end());
  std::sort(s.pairs_.begin(), s.pairs_.end());
  s.pairs_.erase(std::unique(s.pairs_.begin(), s.pairs_.end()), s.pairs_.end());
  return s;
}

std::string Selector::Canonical() const {
  return absl::StrJoin(pairs_, ",", [](std::string* out, const auto& p) {
    absl::StrAppend(out, p.first, "=", p.second);
  });
}

}  // namespace nfr
