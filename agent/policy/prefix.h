// CIDR prefixes (IPv4 and IPv6) as written in policies and selection config.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nfr {

struct Prefix {
  uint8_t family = 4;              // 4 or 6
  std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
  uint8_t len = 0;

  // `a` is a 16-byte network-order address of family `f`.
  bool Contains(uint8_t f, const std::array<uint8_t, 16>& a) const;
  std::string ToString() const;
};

// Accepts "ADDR/LEN" and a bare address (a host prefix). Host bits must be
// zero. The error message quotes `text` and says how to fix it; the caller
// prefixes the field name.
absl::StatusOr<Prefix> ParsePrefix(absl::string_view text);

}  // namespace nfr
