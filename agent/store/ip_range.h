// Address-range helpers for decision-log prefix queries: addresses are
// stored as 16-byte keys (IPv4 as ::ffff:a.b.c.d) so a CIDR is a key range.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nfr {

using AddrKey = std::array<uint8_t, 16>;

// Textual IPv4/IPv6 address -> key; nullopt when `text` is not an address.
std::optional<AddrKey> AddressKey(absl::string_view text);

struct AddrRange {
  AddrKey lo{};
  AddrKey hi{};
};

// "ADDR/LEN" or a bare address -> inclusive key range (ParsePrefix, host bits
// cleared). INVALID_ARGUMENT quoting `text` otherwise.
absl::StatusOr<AddrRange> ParseAddrRange(absl::string_view text);

}  // namespace nfr
