#include "agent/policy/prefix.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nfr {

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

absl::StatusOr<Prefix> ParsePrefix(absl::string_view text) {
  const std::string quoted = absl::StrCat("\"", text, "\"");
  const size_t slash = text.find('/');
  const std::string addr_text(text.substr(0, slash));
  Prefix p;
  if (inet_pton(AF_INET, addr_text.c_str(), p.addr.data()) == 1) {
    p.family = 4;
  } else if (inet_pton(AF_INET6, addr_text.c_str(), p.addr.data()) == 1) {
    p.family = 6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        quoted, " is not a CIDR prefix; use ADDR/LEN, e.g. 10.77.0.0/16 or fd77::/64"));
  }
  const int max_len = p.family == 4 ? 32 : 128;
  int len = max_len;
  if (slash != absl::string_view::npos) {
    const absl::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3 ||
        len_text.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(len_text, &len) || len > max_len) {
      return absl::InvalidArgumentError(
          absl::StrCat(quoted, " is not a CIDR prefix; use ADDR/LEN with LEN <= ", max_len));
    }
  }
  p.len = static_cast<uint8_t>(len);
  Prefix masked = p;
  const int full = len / 8;
  for (int i = full; i < 16; ++i) {
    const int rem = i == full ? len % 8 : 0;
    masked.addr[i] &= static_cast<uint8_t>(rem == 0 ? 0 : 0xff << (8 - rem));
  }
  if (masked.addr != p.addr) {
    return absl::InvalidArgumentError(
        absl::StrCat(quoted, " has host bits set; use ", masked.ToString()));
  }
  return p;
}

}  // namespace nfr
