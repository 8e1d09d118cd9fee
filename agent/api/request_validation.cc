#include "agent/api/request_validation.h"

#include "absl/strings/str_cat.h"

namespace nfr {

absl::StatusOr<std::optional<AddrRange>> ParseFilterPrefix(absl::string_view text,
                                                           absl::string_view field) {
  if (text.empty()) return std::optional<AddrRange>();
  absl::StatusOr<AddrRange> r = ParseAddrRange(text);
  if (!r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", r.status().message()));
  }
  return std::optional<AddrRange>(*r);
}

absl::Status CheckProtocol(int value, absl::string_view field) {
  if (nfr::v1::Protocol_IsValid(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown protocol ", value,
                                                 "; use PROTOCOL_ANY, TCP, UDP, ICMP or ICMPV6"));
}

absl::Status CheckVerdict(int value, absl::string_view field, bool allow_unspecified) {
  if (value == nfr::v1::VERDICT_ACCEPT || value == nfr::v1::VERDICT_DROP ||
      (allow_unspecified && value == nfr::v1::VERDICT_UNSPECIFIED)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", value,
                                                 " is not a verdict; use VERDICT_ACCEPT or "
                                                 "VERDICT_DROP"));
}

}  // namespace nfr
