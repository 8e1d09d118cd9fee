#include "agent/store/ip_range.h"

#include <arpa/inet.h>

#include <cstring>

#include "agent/policy/prefix.h"

namespace nfr {

std::optional<AddrKey> AddressKey(absl::string_view text) {
  std::string s(text);
  AddrKey key{};
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    key[10] = 0xff;
    key[11] = 0xff;
    std::memcpy(&key[12], &v4, 4);
    return key;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(key.data(), &v6, 16);
    return key;
  }
  return std::nullopt;
}

absl::StatusOr<AddrRange> ParseAddrRange(absl::string_view text) {
  absl::StatusOr<Prefix> p = ParsePrefix(text, HostBits::kClear);
  if (!p.ok()) return p.status();
  AddrKey key{};
  int bits = p->len;
  if (p->family == 4) {
    key[10] = 0xff;
    key[11] = 0xff;
    std::memcpy(&key[12], p->addr.data(), 4);
    bits += 96;
  } else {
    key = p->addr;
  }
  AddrRange r{key, key};
  for (int i = bits; i < 128; ++i) {
    const uint8_t bit = 0x80 >> (i % 8);
    r.lo[i / 8] &= ~bit;
    r.hi[i / 8] |= bit;
  }
  return r;
}

}  // namespace nfr
