// Builds IPv4/IPv6 test packets byte by byte for parser and engine tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace nfr::testing {

inline void Put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}

inline std::vector<uint8_t> TcpHeader(uint16_t sport, uint16_t dport, uint8_t flags) {
  std::vector<uint8_t> h(20, 0);
  Put16(h, 0, sport);
  Put16(h, 2, dport);
  h[12] = 5 << 4;
  h[13] = flags;
  return h;
}

inline std::vector<uint8_t> UdpHeader(uint16_t sport, uint16_t dport, uint16_t payload = 0) {
  std::vector<uint8_t> h(8, 0);
  Put16(h, 0, sport);
  Put16(h, 2, dport);
  Put16(h, 4, 8 + payload);
  return h;
}

inline std::vector<uint8_t> IcmpEcho(uint8_t type, uint16_t id, uint16_t seq) {
  std::vector<uint8_t> h(8, 0);
  h[0] = type;
  Put16(h, 4, id);
  Put16(h, 6, seq);
  return h;
}

// IPv4 header (with `options` bytes, a multiple of 4) followed by `l4`.
inline std::vector<uint8_t> Ipv4(std::initializer_list<uint8_t> src,
                                 std::initializer_list<uint8_t> dst, uint8_t proto,
                                 const std::vector<uint8_t>& l4, size_t options = 0,
                                 uint16_t frag = 0) {
  const size_t ihl = 20 + options;
  std::vector<uint8_t> p(ihl, 0);
  p[0] = 0x40 | static_cast<uint8_t>(ihl / 4);
  Put16(p, 2, static_cast<uint16_t>(ihl + l4.size()));
  Put16(p, 6, frag);
  p[8] = 64;
  p[9] = proto;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  for (size_t i = 20; i < ihl; ++i) p[i] = 1;  // NOP options
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

// IPv6 header; `ext` are pre-built extension headers whose next-header bytes
// chain correctly; `first_next` is the next header after the fixed header.
inline std::vector<uint8_t> Ipv6(const uint8_t (&src)[16], const uint8_t (&dst)[16],
                                 uint8_t first_next, const std::vector<uint8_t>& ext,
                                 const std::vector<uint8_t>& l4) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  Put16(p, 4, static_cast<uint16_t>(ext.size() + l4.size()));
  p[6] = first_next;
  p[7] = 64;
  std::copy(src, src + 16, p.begin() + 8);
  std::copy(dst, dst + 16, p.begin() + 24);
  p.insert(p.end(), ext.begin(), ext.end());
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

// An 8-byte extension header (hop-by-hop / destination options / routing).
inline std::vector<uint8_t> Ext8(uint8_t next) {
  std::vector<uint8_t> h(8, 0);
  h[0] = next;
  h[1] = 0;
  h[2] = 1;  // PadN
  return h;
}

inline std::vector<uint8_t> FragmentHeader(uint8_t next, uint16_t offset_units, bool more) {
  std::vector<uint8_t> h(8, 0);
  h[0] = next;
  Put16(h, 2, static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  return h;
}

inline constexpr uint8_t kV6Src[16] = {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
inline constexpr uint8_t kV6Dst[16] = {0xfd, 0x77, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

}  // namespace nfr::testing
