#include "agent/store/ip_range.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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
  absl::string_view addr = text;
  std::optional<int> len;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    addr = text.substr(0, slash);
    int n;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a prefix: the length after '/' must be a number"));
    }
    len = n;
  }
  std::optional<AddrKey> key = AddressKey(addr);
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not an address or CIDR prefix (e.g. 10.77.0.0/16, fd77::/64)"));
  }
  const bool v4 = addr.find(':') == absl::string_view::npos;
  const int max = v4 ? 32 : 128;
  int bits = len.value_or(max);
  if (bits < 0 || bits > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": prefix length must be 0..", max));
  }
  if (v4) bits += 96;
  AddrRange r{*key, *key};
  for (int i = bits; i < 128; ++i) {
    const uint8_t bit = 0x80 >> (i % 8);
    r.lo[i / 8] &= ~bit;
    r.hi[i / 8] |= bit;
  }
  return r;
}

}  // namespace nfr
