// Parses an L3 packet as NFQUEUE delivers it (IPv4/IPv6 header first) into the
// fields the verdict engine needs. Pure function: never reads past `data`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace nfr {

inline constexpr int kMaxIpv6ExtHeaders = 8;

struct PacketInfo {
  uint8_t family = 0;    // 4 or 6
  uint8_t protocol = 0;  // L4 protocol number after IPv6 extension headers
  // Addresses in network byte order; IPv4 uses the first 4 bytes, rest zero.
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  bool has_ports = false;  // TCP/UDP with its header present (not a later fragment)
  uint16_t src_port = 0;   // host order
  uint16_t dst_port = 0;
  bool fragment = false;        // part of a fragmented datagram
  bool later_fragment = false;  // offset != 0: carries no L4 header
  uint8_t tcp_flags = 0;        // TCP only
  bool has_icmp = false;        // ICMP/ICMPv6 header present
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  bool icmp_echo = false;     // echo request or reply (id below is valid)
  uint16_t icmp_echo_id = 0;  // host order
  size_t l4_offset = 0;       // byte offset of the L4 header in the packet
};

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

// INVALID_ARGUMENT for truncated or malformed headers. Payload beyond the
// headers may be missing (NFQUEUE copy range) and is never inspected.
absl::StatusOr<PacketInfo> ParsePacket(absl::Span<const uint8_t> data);

}  // namespace nfr
