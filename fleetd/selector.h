// Label selectors: "key=value[,key=value...]"; every pair must match; empty
// matches everything.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/map.h"

namespace nfr {

class Selector {
 public:
  // INVALID_ARGUMENT naming `field` for a pair without '=' or an empty key.
  static absl::StatusOr<Selector> Parse(const std::string& text, const std::string& field);
  bool Matches(const google::protobuf::Map<std::string, std::string>& labels) const;
  // Both must match (the pairs of each, duplicates once).
  Selector And(const Selector& other) const;
  // Sorted "k=v,..." (the key group policies are stored under).
  std::string Canonical() const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

}  // namespace nfr
