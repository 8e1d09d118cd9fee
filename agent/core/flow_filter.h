// Filters of list/watch requests (interface, protocol, verdict, source,
// address prefix) applied to Flow and Decision records.
#pragma once

#include <optional>
#include <string>

#include "agent/store/ip_range.h"
#include "nfr/v1/flow.pb.h"

namespace nfr {

struct FlowFilter {
  std::string interface;  // empty = any
  nfr::v1::Protocol protocol = nfr::v1::PROTOCOL_ANY;
  std::optional<AddrRange> prefix;  // source or destination inside
  nfr::v1::Verdict verdict = nfr::v1::VERDICT_UNSPECIFIED;
  nfr::v1::DecisionSource source = nfr::v1::DECISION_SOURCE_UNSPECIFIED;

  bool Matches(const nfr::v1::Flow& flow) const;
  bool Matches(const nfr::v1::Decision& decision) const;
};

bool AddrInRange(const std::string& addr, const AddrRange& range);

}  // namespace nfr
