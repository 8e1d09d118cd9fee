#include "agent/datapath/selection_writer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/policy/prefix.h"
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
    // Host bits are cleared here; the config file's validation rejects them earlier.
    auto p = ParsePrefix(selection.prefixes(i), HostBits::kClear);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("selection.prefixes[", i, "]: ", p.status().message()));
    }
    if (p->family == 4) {
      uint32_t be;
      memcpy(&be, p->addr.data(), 4);
      c.v4.insert({p->len, be});
    } else {
      std::array<uint32_t, 4> words;
      memcpy(words.data(), p->addr.data(), 16);
      c.v6.insert({p->len, words});
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
