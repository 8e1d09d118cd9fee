// Filters of list/watch requests (interface, protocol, verdict, source,
// address prefix): parsed from the request (INVALID_ARGUMENT naming the field)
// and applied to Flow and Decision records.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/store/ip_range.h"
#include "nfr_abi.h"
#include "nfr/v1/connection_service.pb.h"
#include "nfr/v1/decision_service.pb.h"
#include "nfr/v1/flow.pb.h"
#include "nfr/v1/flow_service.pb.h"

namespace nfr {

struct FlowFilter {
  std::string interface;  // empty = any
  nfr::v1::Protocol protocol = nfr::v1::PROTOCOL_ANY;
  std::optional<AddrRange> prefix;  // source or destination inside
  nfr::v1::Verdict verdict = nfr::v1::VERDICT_UNSPECIFIED;
  nfr::v1::DecisionSource source = nfr::v1::DECISION_SOURCE_UNSPECIFIED;
  nfr::v1::FlowOrigin origin = nfr::v1::FLOW_ORIGIN_UNSPECIFIED;

  bool Matches(const nfr::v1::Flow& flow) const;
  bool Matches(const nfr::v1::Decision& decision) const;
  // The protocol and prefix parts on a flow-cache key (the rest needs the record).
  bool MatchesKey(const nfr_flow_key& key) const;
  // Flow, verdict and origin.
  bool Matches(const nfr::v1::Flow& flow, nfr::v1::Verdict verdict,
               nfr::v1::FlowOrigin origin) const;
};

bool AddrInRange(const std::string& addr, const AddrRange& range);

absl::StatusOr<FlowFilter> PendingFilterFrom(const nfr::v1::PendingFilter& filter);
// Time bounds are not part of it (DecisionQuery has them).
absl::StatusOr<FlowFilter> DecisionFilterFrom(const nfr::v1::DecisionFilter& filter);
absl::StatusOr<FlowFilter> FlowEntryFilterFrom(const nfr::v1::FlowEntryFilter& filter);

// Empty text -> nullopt (match all).
absl::StatusOr<std::optional<AddrRange>> ParseFilterPrefix(absl::string_view text,
                                                           absl::string_view field);
absl::Status CheckProtocol(int value, absl::string_view field);
absl::Status CheckVerdict(int value, absl::string_view field, bool allow_unspecified);

}  // namespace nfr
