#include "agent/datapath/selection_writer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nfr_abi.h"

namespace nfr::datapath {
namespace {

absl::Status MapError(const char* what, int err) {
  return absl::InternalError(absl::StrCat("writing BPF map ", what, " failed: ", strerror(-err)));
}

absl::Status SetByte(int fd, const char* name, uint32_t key, uint8_t v) {
  int err = bpf_map_update_elem(fd, &key, &v, BPF_ANY);
  return err ? MapError(name, err) : absl::OkStatus();
}

uint32_t MaskV4(uint32_t addr_be, uint32_t len) {
  uint32_t host = ntohl(addr_be);
  uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
  return htonl(host & mask);
}

std::array<uint32_t, 4> MaskV6(const in6_addr& a, uint32_t len) {
  std::array<uint32_t, 4> out;
  memcpy(out.data(), &a, 16);
  for (int i = 0; i < 4; ++i) {
    uint32_t bits = len > uint32_t(i * 32) ? std::min<uint32_t>(32, len - i * 32) : 0;
    uint32_t mask = bits == 0 ? 0 : ~0u << (32 - bits);
    out[i] = htonl(ntohl(out[i]) & mask);
  }
  return out;
}

}  // namespace

uint32_t CompiledSelection::flags() const {
  uint32_t f = 0;
  if (!ports.empty()) f |= NFR_CFG_PORT_FILTER;
  if (prefix_filter) f |= NFR_CFG_V4_PREFIX_FILTER | NFR_CFG_V6_PREFIX_FILTER;
  return f;
}

absl::StatusOr<CompiledSelection> CompileSelection(const nfr::v1::SelectionConfig& selection) {
  CompiledSelection c;
  if (selection.protocols().empty()) {
    for (int p : {int{IPPROTO_TCP}, int{IPPROTO_UDP}, int{IPPROTO_ICMP}, int{IPPROTO_ICMPV6}}) {
      c.protocols[p] = true;
    }
  }
  for (int i = 0; i < selection.protocols_size(); ++i) {
    int p = selection.protocols(i);
    if (p == nfr::v1::PROTOCOL_ANY) {
      c.protocols.fill(true);
    } else if (p > 0 && p < 256) {
      c.protocols[p] = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("selection.protocols[", i, "] = ", p,
                                                     " is not an IP protocol number (0..255)"));
    }
  }
  for (int i = 0; i < selection.dst_ports_size(); ++i) {
    uint32_t port = selection.dst_ports(i);
    if (port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("selection.dst_ports[", i, "] = ", port, " is not a port (1..65535)"));
    }
    c.ports.insert(static_cast<uint16_t>(port));
  }
  for (int i = 0; i < selection.prefixes_size(); ++i) {
    const std::string& s = selection.prefixes(i);
    auto bad = [&] {
      return absl::InvalidArgumentError(
          absl::StrCat("selection.prefixes[", i, "] = '", s,
                       "' is not a CIDR prefix; write e.g. 10.77.0.0/16, 10.77.0.2, fd77::/64"));
    };
    std::vector<std::string> parts = absl::StrSplit(s, '/');
    if (parts.size() > 2) return bad();
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, parts[0].c_str(), &a4) == 1) {
      uint32_t len = 32;
      if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &len) || len > 32)) return bad();
      c.v4.insert({len, MaskV4(a4.s_addr, len)});
    } else if (inet_pton(AF_INET6, parts[0].c_str(), &a6) == 1) {
      uint32_t len = 128;
      if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &len) || len > 128)) return bad();
      c.v6.insert({len, MaskV6(a6, len)});
    } else {
      return bad();
    }
    c.prefix_filter = true;
  }
  if (c.v4.size() > NFR_SEL_PREFIXES_MAX || c.v6.size() > NFR_SEL_PREFIXES_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "selection.prefixes: at most ", NFR_SEL_PREFIXES_MAX, " IPv4 and as many IPv6 prefixes"));
  }
  return c;
}

absl::Status SelectionWriter::AddEntries(const CompiledSelection& next) {
  for (uint32_t p = 0; p < 256; ++p) {
    if (next.protocols[p] && !current_.protocols[p]) {
      if (auto st = SetByte(fds_.sel_proto, NFR_MAP_SEL_PROTO, p, 1); !st.ok()) return st;
    }
  }
  for (uint16_t port : next.ports) {
    if (!current_.ports.count(port)) {
      if (auto st = SetByte(fds_.sel_ports, NFR_MAP_SEL_PORTS, port, 1); !st.ok()) return st;
    }
  }
  uint8_t one = 1;
  for (const auto& [len, addr] : next.v4) {
    nfr_lpm_v4_key k = {len, addr};
    if (int err = bpf_map_update_elem(fds_.sel_v4, &k, &one, BPF_ANY)) {
      return MapError(NFR_MAP_SEL_V4, err);
    }
  }
  for (const auto& [len, addr] : next.v6) {
    nfr_lpm_v6_key k = {};
    k.prefixlen = len;
    memcpy(k.addr, addr.data(), 16);
    if (int err = bpf_map_update_elem(fds_.sel_v6, &k, &one, BPF_ANY)) {
      return MapError(NFR_MAP_SEL_V6, err);
    }
  }
  return absl::OkStatus();
}

absl::Status SelectionWriter::RemoveStale(const CompiledSelection& next) {
  for (uint32_t p = 0; p < 256; ++p) {
    if (!next.protocols[p] && current_.protocols[p]) {
      if (auto st = SetByte(fds_.sel_proto, NFR_MAP_SEL_PROTO, p, 0); !st.ok()) return st;
    }
  }
  for (uint16_t port : current_.ports) {
    if (!next.ports.count(port)) {
      if (auto st = SetByte(fds_.sel_ports, NFR_MAP_SEL_PORTS, port, 0); !st.ok()) return st;
    }
  }
  for (const auto& e : current_.v4) {
    if (next.v4.count(e)) continue;
    nfr_lpm_v4_key k = {e.first, e.second};
    int err = bpf_map_delete_elem(fds_.sel_v4, &k);
    if (err && err != -ENOENT) return MapError(NFR_MAP_SEL_V4, err);
  }
  for (const auto& e : current_.v6) {
    if (next.v6.count(e)) continue;
    nfr_lpm_v6_key k = {};
    k.prefixlen = e.first;
    memcpy(k.addr, e.second.data(), 16);
    int err = bpf_map_delete_elem(fds_.sel_v6, &k);
    if (err && err != -ENOENT) return MapError(NFR_MAP_SEL_V6, err);
  }
  return absl::OkStatus();
}

}  // namespace nfr::datapath
