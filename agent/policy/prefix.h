// CIDR prefixes (IPv4 and IPv6) as written in policies, sets, selection config
// and filters: the one parser for all of them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nfr {

// 32-bit targets (armhf, mipsel) have no __int128.
#ifdef __SIZEOF_INT128__
using Uint128 = unsigned __int128;
#else
using Uint128 = absl::uint128;
#endif

struct Prefix {
  uint8_t family = 4;              // 4 or 6
  std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
  uint8_t len = 0;

  // `a` is a 16-byte network-order address of family `f`.
  bool Contains(uint8_t f, const std::array<uint8_t, 16>& a) const;
  std::string ToString() const;
  // First and last address covered, as host-order integers of the family's width.
  uint32_t FirstV4() const;
  uint32_t LastV4() const;
  Uint128 FirstV6() const;
  Uint128 LastV6() const;

  friend bool operator==(const Prefix&, const Prefix&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Prefix& p) {
    return H::combine(std::move(h), p.family, p.addr, p.len);
  }
};

// What to do with bits set after the prefix length ("10.1.1.1/8").
enum class HostBits {
  kReject,  // INVALID_ARGUMENT that names the masked prefix (policies, sets, selection)
  kClear,   // mask them off (search filters: "the /16 around this address")
};

// Accepts "ADDR/LEN" and a bare address (a host prefix). The error message
// quotes `text` and says how to fix it; the caller prefixes the field name.
absl::StatusOr<Prefix> ParsePrefix(absl::string_view text, HostBits host_bits = HostBits::kReject);

// Network-order address bytes as a host-order integer.
uint32_t AddrV4(const std::array<uint8_t, 16>& a);
Uint128 AddrV6(const std::array<uint8_t, 16>& a);

}  // namespace nfr
