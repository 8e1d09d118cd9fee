#include "agent/packet/packet_parser.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoDstOpts = 60;

uint16_t Load16(absl::Span<const uint8_t> d, size_t off) {
  return static_cast<uint16_t>((d[off] << 8) | d[off + 1]);
}

// Bytes [off, off+need) must lie inside `end` (the IP datagram as captured).
absl::Status Need(size_t off, size_t need, size_t end, size_t captured, const char* what) {
  if (off + need <= end && off + need <= captured) return absl::OkStatus();
  if (off + need > captured) {
    return absl::InvalidArgumentError(absl::StrCat("truncated packet: ", what, " needs ", need,
                                                   " bytes at offset ", off, ", only ", captured,
                                                   " captured"));
  }
  return absl::InvalidArgumentError(absl::StrCat("malformed packet: ", what, " at offset ", off,
                                                 " extends past the IP length ", end));
}

absl::Status ParseL4(absl::Span<const uint8_t> d, size_t off, size_t end, PacketInfo& p) {
  p.l4_offset = off;
  switch (p.protocol) {
    case kProtoTcp: {
      if (auto s = Need(off, 20, end, d.size(), "TCP header"); !s.ok()) return s;
      const size_t doff = (d[off + 12] >> 4) * 4u;
      if (doff < 20) {
        return absl::InvalidArgumentError(
            absl::StrCat("malformed packet: TCP data offset ", doff, " is below 20 bytes"));
      }
      p.src_port = Load16(d, off);
      p.dst_port = Load16(d, off + 2);
      p.tcp_flags = d[off + 13];
      p.has_ports = true;
      return absl::OkStatus();
    }
    case kProtoUdp: {
      if (auto s = Need(off, 8, end, d.size(), "UDP header"); !s.ok()) return s;
      p.src_port = Load16(d, off);
      p.dst_port = Load16(d, off + 2);
      p.has_ports = true;
      return absl::OkStatus();
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      const bool v6 = p.protocol == kProtoIcmpv6;
      if (auto s = Need(off, 4, end, d.size(), v6 ? "ICMPv6 header" : "ICMP header"); !s.ok()) {
        return s;
      }
      p.has_icmp = true;
      p.icmp_type = d[off];
      p.icmp_code = d[off + 1];
      p.icmp_echo =
          v6 ? (p.icmp_type == 128 || p.icmp_type == 129) : (p.icmp_type == 8 || p.icmp_type == 0);
      if (p.icmp_echo) {
        if (auto s = Need(off, 8, end, d.size(), "ICMP echo header"); !s.ok()) return s;
        p.icmp_echo_id = Load16(d, off + 4);
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();  // other protocols: addresses only
  }
}

absl::StatusOr<PacketInfo> ParseIpv4(absl::Span<const uint8_t> d) {
  PacketInfo p;
  p.family = 4;
  if (auto s = Need(0, 20, d.size(), d.size(), "IPv4 header"); !s.ok()) return s;
  const size_t ihl = (d[0] & 0x0f) * 4u;
  if (ihl < 20) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed packet: IPv4 header length ", ihl, " is below 20 bytes"));
  }
  if (auto s = Need(0, ihl, d.size(), d.size(), "IPv4 header with options"); !s.ok()) return s;
  const size_t tot_len = Load16(d, 2);  // 0 for BIG TCP GSO packets: use what we have
  if (tot_len != 0 && tot_len < ihl) {
    return absl::InvalidArgumentError(absl::StrCat("malformed packet: IPv4 total length ", tot_len,
                                                   " is below its header length ", ihl));
  }
  const size_t end_limit = tot_len == 0 ? d.size() : tot_len;
  const uint16_t frag = Load16(d, 6);
  const uint16_t offset = frag & 0x1fff;
  p.fragment = (frag & 0x2000) != 0 || offset != 0;
  p.later_fragment = offset != 0;
  p.protocol = d[9];
  std::copy_n(d.begin() + 12, 4, p.src.begin());
  std::copy_n(d.begin() + 16, 4, p.dst.begin());
  if (p.later_fragment) return p;
  if (auto s = ParseL4(d, ihl, end_limit, p); !s.ok()) return s;
  return p;
}

absl::StatusOr<PacketInfo> ParseIpv6(absl::Span<const uint8_t> d) {
  PacketInfo p;
  p.family = 6;
  if (auto s = Need(0, 40, d.size(), d.size(), "IPv6 header"); !s.ok()) return s;
  const size_t payload_len = Load16(d, 4);  // 0: jumbogram / BIG TCP
  const size_t end = payload_len == 0 ? d.size() : 40 + payload_len;
  std::copy_n(d.begin() + 8, 16, p.src.begin());
  std::copy_n(d.begin() + 24, 16, p.dst.begin());
  uint8_t next = d[6];
  size_t off = 40;
  for (int i = 0;; ++i) {
    const bool ext = next == kProtoHopByHop || next == kProtoRouting || next == kProtoFragment ||
                     next == kProtoDstOpts || next == kProtoAh;
    if (!ext) break;
    if (i == kMaxIpv6ExtHeaders) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed packet: more than ", kMaxIpv6ExtHeaders, " IPv6 extension headers"));
    }
    size_t len;
    if (next == kProtoFragment) {
      if (auto s = Need(off, 8, end, d.size(), "IPv6 fragment header"); !s.ok()) return s;
      const uint16_t fo = Load16(d, off + 2);
      p.fragment = true;
      if ((fo & 0xfff8) != 0) {
        // A later fragment: what follows is payload, not headers (as in the tc program).
        p.later_fragment = true;
        p.protocol = d[off];
        return p;
      }
      len = 8;
    } else {
      if (auto s = Need(off, 2, end, d.size(), "IPv6 extension header"); !s.ok()) return s;
      len = next == kProtoAh ? (d[off + 1] + 2u) * 4u : (d[off + 1] + 1u) * 8u;
      if (auto s = Need(off, len, end, d.size(), "IPv6 extension header"); !s.ok()) return s;
    }
    next = d[off];
    off += len;
  }
  p.protocol = next;
  if (auto s = ParseL4(d, off, end, p); !s.ok()) return s;
  return p;
}

}  // namespace

absl::StatusOr<PacketInfo> ParsePacket(absl::Span<const uint8_t> data) {
  if (data.empty()) return absl::InvalidArgumentError("truncated packet: empty payload");
  switch (data[0] >> 4) {
    case 4:
      return ParseIpv4(data);
    case 6:
      return ParseIpv6(data);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("malformed packet: IP version ", data[0] >> 4, " is neither 4 nor 6"));
  }
}

}  // namespace nfr
