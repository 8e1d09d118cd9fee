#include "tests/bpf/frames.h"

#include <arpa/inet.h>

#include <cstring>

namespace nfr::test {
namespace {

void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}

void Append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

uint32_t V4(const std::string& s) {
  in_addr a{};
  inet_pton(AF_INET, s.c_str(), &a);
  return a.s_addr;
}

in6_addr V6(const std::string& s) {
  in6_addr a{};
  inet_pton(AF_INET6, s.c_str(), &a);
  return a;
}

}  // namespace

Bytes Tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
  Bytes b(20, 0);
  Put16(b, 0, sport);
  Put16(b, 2, dport);
  b[12] = 5 << 4;
  b[13] = flags;
  Put16(b, 14, 65535);
  return b;
}

Bytes Udp(uint16_t sport, uint16_t dport, size_t payload) {
  Bytes b(8 + payload, 0xab);
  Put16(b, 0, sport);
  Put16(b, 2, dport);
  Put16(b, 4, static_cast<uint16_t>(8 + payload));
  Put16(b, 6, 0);
  return b;
}

Bytes Icmp(uint8_t type, uint16_t id) {
  Bytes b(16, 0x5a);
  b[0] = type;
  b[1] = 0;
  Put16(b, 2, 0);
  Put16(b, 4, id);
  Put16(b, 6, 1);
  return b;
}

Bytes Ip4(uint8_t proto, const std::string& src, const std::string& dst, const Bytes& l4,
          const Ip4Opts& o) {
  size_t hlen = 20 + o.options.size();
  Bytes b(hlen, 0);
  uint8_t ihl = o.ihl ? *o.ihl : static_cast<uint8_t>(hlen / 4);
  b[0] = static_cast<uint8_t>(o.version << 4 | (ihl & 0xf));
  Put16(b, 2, o.tot_len ? *o.tot_len : static_cast<uint16_t>(hlen + l4.size()));
  Put16(b, 4, 0x1234);
  Put16(b, 6, o.frag);
  b[8] = 64;
  b[9] = proto;
  uint32_t s = V4(src), d = V4(dst);
  memcpy(&b[12], &s, 4);
  memcpy(&b[16], &d, 4);
  std::copy(o.options.begin(), o.options.end(), b.begin() + 20);
  Append(b, l4);
  return b;
}

Bytes Ip6(uint8_t proto, const std::string& src, const std::string& dst, const Bytes& l4,
          const std::vector<Ext6>& exts, std::optional<uint16_t> payload_len) {
  Bytes chain;
  for (size_t i = 0; i < exts.size(); ++i) {
    uint8_t next = i + 1 < exts.size() ? exts[i + 1].type : proto;
    const Ext6& e = exts[i];
    Bytes h;
    if (e.type == 44) {
      h.assign(8, 0);
      h[0] = next;
      Put16(h, 2, static_cast<uint16_t>(e.frag_offset << 3 | 1));
    } else if (e.type == 51) {
      h.assign((e.len_units + 2) * 4, 0);
      h[0] = next;
      h[1] = e.len_units;
    } else {
      h.assign((e.len_units + 1) * 8, 0);
      h[0] = next;
      h[1] = e.len_units;
      if (e.type == 0 || e.type == 60) h[2] = 1;  // PadN
    }
    Append(chain, h);
  }
  Append(chain, l4);
  Bytes b(40, 0);
  b[0] = 6 << 4;
  Put16(b, 4, payload_len ? *payload_len : static_cast<uint16_t>(chain.size()));
  b[6] = exts.empty() ? proto : exts[0].type;
  b[7] = 64;
  in6_addr s = V6(src), d = V6(dst);
  memcpy(&b[8], &s, 16);
  memcpy(&b[24], &d, 16);
  Append(b, chain);
  return b;
}

Bytes Eth(uint16_t ethertype, const Bytes& l3, const std::vector<uint16_t>& tpids) {
  Bytes b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  for (size_t i = 0; i < tpids.size(); ++i) {
    b.push_back(tpids[i] >> 8);
    b.push_back(tpids[i] & 0xff);
    uint16_t vid = static_cast<uint16_t>(100 + i);
    b.push_back(vid >> 8);
    b.push_back(vid & 0xff);
  }
  b.push_back(ethertype >> 8);
  b.push_back(ethertype & 0xff);
  Append(b, l3);
  return b;
}

nfr_flow_key Key4(uint8_t proto, const std::string& src, uint16_t sport, const std::string& dst,
                  uint16_t dport) {
  nfr_flow_key k = {};
  k.family = AF_INET;
  k.proto = proto;
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.saddr[0] = V4(src);
  k.daddr[0] = V4(dst);
  return k;
}

nfr_flow_key Key6(uint8_t proto, const std::string& src, uint16_t sport, const std::string& dst,
                  uint16_t dport) {
  nfr_flow_key k = {};
  k.family = AF_INET6;
  k.proto = proto;
  k.sport = htons(sport);
  k.dport = htons(dport);
  in6_addr s = V6(src), d = V6(dst);
  memcpy(k.saddr, &s, 16);
  memcpy(k.daddr, &d, 16);
  return k;
}

}  // namespace nfr::test
