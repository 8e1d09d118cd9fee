#include "agent/core/flow_filter.h"

namespace nfr {

bool AddrInRange(const std::string& addr, const AddrRange& range) {
  std::optional<AddrKey> k = AddressKey(addr);
  return k && *k >= range.lo && *k <= range.hi;
}

bool FlowFilter::Matches(const nfr::v1::Flow& flow) const {
  if (!interface.empty() && flow.interface() != interface) return false;
  if (protocol != nfr::v1::PROTOCOL_ANY && flow.protocol() != protocol) return false;
  if (prefix && !AddrInRange(flow.src_addr(), *prefix) && !AddrInRange(flow.dst_addr(), *prefix)) {
    return false;
  }
  return true;
}

bool FlowFilter::Matches(const nfr::v1::Decision& d) const {
  if (verdict != nfr::v1::VERDICT_UNSPECIFIED && d.verdict() != verdict) return false;
  if (source != nfr::v1::DECISION_SOURCE_UNSPECIFIED && d.source() != source) return false;
  return Matches(d.flow());
}

}  // namespace nfr
