// libFuzzer target: the packet parser must never read out of bounds, and a
// parsed packet must convert to a flow key and Flow record.
#include <cstddef>
#include <cstdint>

#include "agent/packet/flow_key.h"
#include "agent/packet/packet_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto info = nfr::ParsePacket(absl::MakeConstSpan(data, size));
  if (!info.ok()) return 0;
  if (info->l4_offset > size) __builtin_trap();
  nfr_flow_key key = nfr::FlowKeyOf(*info);
  nfr_flow_key back = nfr::ReverseFlowKey(nfr::ReverseFlowKey(key));
  if (__builtin_memcmp(&key, &back, sizeof(key)) != 0) __builtin_trap();
  (void)nfr::DescribeFlow(nfr::FlowOf(*info, "fuzz0", nfr::v1::DIRECTION_INGRESS));
  return 0;
}
