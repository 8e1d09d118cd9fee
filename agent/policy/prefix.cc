#include "agent/policy/prefix.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nfr {
namespace {

Uint128 MaskBelow(int bits, int len) {  // ones in the low (bits - len) bits
  const int host = bits - len;
  if (host <= 0) return 0;
  if (host >= 128) return ~Uint128{0};
  return (Uint128{1} << host) - 1;
}

}  // namespace

uint32_t AddrV4(const std::array<uint8_t, 16>& a) {
  return (uint32_t{a[0]} << 24) | (uint32_t{a[1]} << 16) | (uint32_t{a[2]} << 8) | a[3];
}

Uint128 AddrV6(const std::array<uint8_t, 16>& a) {
  Uint128 v = 0;
  for (uint8_t b : a) v = (v << 8) | b;
  return v;
}

uint32_t Prefix::FirstV4() const { return AddrV4(addr); }
uint32_t Prefix::LastV4() const { return AddrV4(addr) | static_cast<uint32_t>(MaskBelow(32, len)); }
Uint128 Prefix::FirstV6() const { return AddrV6(addr); }
Uint128 Prefix::LastV6() const { return AddrV6(addr) | MaskBelow(128, len); }

bool Prefix::Contains(uint8_t f, const std::array<uint8_t, 16>& a) const {
  if (f != family) return false;
  const int full = len / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != addr[i]) return false;
  }
  const int rem = len % 8;
  if (rem == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (a[full] & mask) == addr[full];
}

std::string Prefix::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof(buf));
  return absl::StrCat(buf, "/", len);
}

absl::StatusOr<Prefix> ParsePrefix(absl::string_view text, HostBits host_bits) {
  const size_t slash = text.find('/');
  char addr_text[INET6_ADDRSTRLEN + 1];
  const absl::string_view addr_part = text.substr(0, slash);
  Prefix p;
  bool ok = addr_part.size() < sizeof(addr_text);
  if (ok) {
    addr_part.copy(addr_text, addr_part.size());
    addr_text[addr_part.size()] = '\0';
    if (inet_pton(AF_INET, addr_text, p.addr.data()) == 1) {
      p.family = 4;
    } else if (inet_pton(AF_INET6, addr_text, p.addr.data()) == 1) {
      p.family = 6;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a CIDR prefix; use ADDR/LEN, e.g. 10.77.0.0/16 or fd77::/64"));
  }
  const int max_len = p.family == 4 ? 32 : 128;
  int len = max_len;
  if (slash != absl::string_view::npos) {
    const absl::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3 ||
        len_text.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(len_text, &len) || len > max_len) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a CIDR prefix; use ADDR/LEN with LEN <= ", max_len));
    }
  }
  p.len = static_cast<uint8_t>(len);
  Prefix masked = p;
  const int full = len / 8;
  for (int i = full; i < 16; ++i) {
    const int rem = i == full ? len % 8 : 0;
    masked.addr[i] &= static_cast<uint8_t>(rem == 0 ? 0 : 0xff << (8 - rem));
  }
  if (masked.addr != p.addr && host_bits == HostBits::kReject) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has host bits set; use ", masked.ToString()));
  }
  return masked;
}

}  // namespace nfr
