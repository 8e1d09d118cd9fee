/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Defensive L2-L4 parser for the tc program: builds the directional flow
 * key and tells whether the packet opens a new connection. Reads through
 * bpf_skb_load_bytes so non-linear skbs parse like linear ones; the common
 * IPv4 TCP/UDP case reads the linear data directly.
 */
#ifndef NFR_PARSE_H
#define NFR_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "nfr_abi.h"

/*
 * struct iphdr's version/ihl bitfields follow asm/byteorder.h: the headers
 * must be the target's (bpfeb needs a big-endian architecture's asm/).
 */
#if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) != defined(__BIG_ENDIAN_BITFIELD)
#error "asm/byteorder.h is for the other byte order; use the target's kernel headers"
#endif

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define NFR_MAX_VLAN_TAGS 2
#define NFR_MAX_IPV6_EXT 6

#define NFR_ETH_P_8021Q 0x8100
#define NFR_ETH_P_8021AD 0x88A8
#define NFR_IP_OFFSET_MASK 0x1FFF
#define NFR_TCP_FLAG_SYN 0x02
#define NFR_TCP_FLAG_ACK 0x10
#define NFR_ICMP_ECHO_REQUEST 8
#define NFR_ICMP_ECHO_REPLY 0
#define NFR_ICMPV6_ECHO_REQUEST 128
#define NFR_ICMPV6_ECHO_REPLY 129

enum nfr_parse_result {
	NFR_PARSE_OK = 0,	/* key filled; l4 fields valid */
	NFR_PARSE_NOT_IP,	/* not IPv4/IPv6, or malformed/truncated */
	NFR_PARSE_LATER_FRAG,	/* non-first fragment: no L4 header */
};

struct nfr_pkt {
	struct nfr_flow_key key;
	__u8 is_new;		/* TCP SYN w/o ACK, UDP, ICMP(v6) echo request */
	__u8 has_ports;		/* TCP or UDP: dport is meaningful */
};

/*
 * Fills the L4 part of the key. Unknown protocols keep ports 0 and are
 * never "new"; a truncated L4 header is malformed.
 */
static __always_inline int nfr_parse_l4(struct __sk_buff *skb, __u32 off,
					__u32 end, struct nfr_pkt *pkt)
{
	switch (pkt->key.proto) {
	case IPPROTO_TCP: {
		__u8 hdr[14];	/* ports + seq + ack + doff + flags */

		if (off + 20 > end ||
		    bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
			return NFR_PARSE_NOT_IP;
		__builtin_memcpy(&pkt->key.sport, &hdr[0], 2);
		__builtin_memcpy(&pkt->key.dport, &hdr[2], 2);
		pkt->has_ports = 1;
		pkt->is_new = (hdr[13] & (NFR_TCP_FLAG_SYN | NFR_TCP_FLAG_ACK)) ==
			      NFR_TCP_FLAG_SYN;
		return NFR_PARSE_OK;
	}
	case IPPROTO_UDP: {
		__u8 hdr[4];	/* ports */

		if (off + 8 > end ||
		    bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
			return NFR_PARSE_NOT_IP;
		__builtin_memcpy(&pkt->key.sport, &hdr[0], 2);
		__builtin_memcpy(&pkt->key.dport, &hdr[2], 2);
		pkt->has_ports = 1;
		pkt->is_new = 1;	/* new unless the cache knows the flow */
		return NFR_PARSE_OK;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 hdr[8];	/* type, code, csum, id, seq */
		__u8 req, rep;

		if (off + sizeof(hdr) > end ||
		    bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
			return NFR_PARSE_NOT_IP;
		if (pkt->key.proto == IPPROTO_ICMP) {
			req = NFR_ICMP_ECHO_REQUEST;
			rep = NFR_ICMP_ECHO_REPLY;
		} else {
			req = NFR_ICMPV6_ECHO_REQUEST;
			rep = NFR_ICMPV6_ECHO_REPLY;
		}
		if (hdr[0] == req || hdr[0] == rep)
			__builtin_memcpy(&pkt->key.sport, &hdr[4], 2);
		pkt->is_new = hdr[0] == req;
		return NFR_PARSE_OK;
	}
	default:
		return NFR_PARSE_OK;
	}
}

static __always_inline int nfr_parse_ipv4(struct __sk_buff *skb, __u32 off,
					  struct nfr_pkt *pkt)
{
	struct iphdr iph;
	__u32 ihl, len;

	if (bpf_skb_load_bytes(skb, off, &iph, sizeof(iph)))
		return NFR_PARSE_NOT_IP;
	if (iph.version != 4 || iph.ihl < 5)
		return NFR_PARSE_NOT_IP;
	ihl = (__u32)iph.ihl * 4;
	/* tot_len 0: BIG TCP GSO packet larger than 64 KiB. */
	len = iph.tot_len ? bpf_ntohs(iph.tot_len) : skb->len - off;
	if (len < ihl)
		return NFR_PARSE_NOT_IP;

	pkt->key.family = AF_INET;
	pkt->key.proto = iph.protocol;
	pkt->key.saddr[0] = iph.saddr;
	pkt->key.daddr[0] = iph.daddr;
	if (bpf_ntohs(iph.frag_off) & NFR_IP_OFFSET_MASK)
		return NFR_PARSE_LATER_FRAG;
	return nfr_parse_l4(skb, off + ihl, off + len, pkt);
}

static __always_inline int nfr_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT ||
	       nexthdr == IPPROTO_AH;
}

static __always_inline int nfr_parse_ipv6(struct __sk_buff *skb, __u32 off,
					  struct nfr_pkt *pkt)
{
	struct ipv6hdr ip6h;
	__u32 end;
	__u8 nexthdr;
	int i;

	if (bpf_skb_load_bytes(skb, off, &ip6h, sizeof(ip6h)))
		return NFR_PARSE_NOT_IP;
	if (ip6h.version != 6)
		return NFR_PARSE_NOT_IP;

	pkt->key.family = AF_INET6;
	__builtin_memcpy(pkt->key.saddr, &ip6h.saddr, 16);
	__builtin_memcpy(pkt->key.daddr, &ip6h.daddr, 16);
	nexthdr = ip6h.nexthdr;
	off += sizeof(ip6h);
	/* payload_len 0: jumbogram / BIG TCP GSO packet. */
	end = ip6h.payload_len ? off + bpf_ntohs(ip6h.payload_len) : skb->len;

#pragma unroll
	for (i = 0; i < NFR_MAX_IPV6_EXT; i++) {
		__u8 ext[4];	/* nexthdr, hdrlen, (fragment: offset) */

		if (!nfr_ipv6_is_ext(nexthdr))
			break;
		if (off + sizeof(ext) > end ||
		    bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
			return NFR_PARSE_NOT_IP;
		if (nexthdr == IPPROTO_FRAGMENT) {
			__u16 frag_off = ((__u16)ext[2] << 8) | ext[3];

			if (frag_off & 0xFFF8) {
				pkt->key.proto = ext[0];
				return NFR_PARSE_LATER_FRAG;
			}
			off += 8;
		} else if (nexthdr == IPPROTO_AH) {
			off += ((__u32)ext[1] + 2) * 4;
		} else {
			off += ((__u32)ext[1] + 1) * 8;
		}
		nexthdr = ext[0];
	}
	/* More extension headers than we walk: treat as unparseable. */
	if (nfr_ipv6_is_ext(nexthdr))
		return NFR_PARSE_NOT_IP;
	pkt->key.proto = nexthdr;
	return nfr_parse_l4(skb, off, end, pkt);
}

/*
 * The common case without a helper call: IPv4 with no options and not a
 * fragment, TCP or UDP, headers in the linear data. Fills pkt exactly as
 * the full parser would; returns -1 (pkt untouched) for anything else.
 */
static __always_inline int nfr_parse_fast(struct __sk_buff *skb,
					  struct nfr_pkt *pkt, int l3)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + (l3 ? 0 : ETH_HLEN);
	__u8 *l4 = (__u8 *)(iph + 1);
	__u32 len;

	if ((void *)(l4 + 20) > end)
		return -1;
	if (l3 ? skb->protocol != bpf_htons(ETH_P_IP) :
		 ((struct ethhdr *)data)->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if (iph->version != 4 || iph->ihl != 5 ||
	    (iph->frag_off & ~bpf_htons(0x4000)))	/* DF alone */
		return -1;
	len = bpf_ntohs(iph->tot_len);
	if (iph->protocol == IPPROTO_TCP) {
		if (len < 40)
			return -1;
		pkt->is_new = (l4[13] & (NFR_TCP_FLAG_SYN | NFR_TCP_FLAG_ACK)) ==
			      NFR_TCP_FLAG_SYN;
	} else if (iph->protocol == IPPROTO_UDP) {
		if (len < 28)
			return -1;
		pkt->is_new = 1;
	} else {
		return -1;
	}
	pkt->key.family = AF_INET;
	pkt->key.proto = iph->protocol;
	pkt->key.pad = 0;
	__builtin_memcpy(&pkt->key.sport, l4, 4);
	pkt->key.saddr[0] = iph->saddr;
	pkt->key.daddr[0] = iph->daddr;
	pkt->key.saddr[1] = pkt->key.saddr[2] = pkt->key.saddr[3] = 0;
	pkt->key.daddr[1] = pkt->key.daddr[2] = pkt->key.daddr[3] = 0;
	pkt->has_ports = 1;
	return NFR_PARSE_OK;
}

/*
 * Parses from the Ethernet header at offset 0 (tc ingress and egress on
 * Ethernet-like devices), or from the IP header at offset 0 when l3 is set
 * (devices without a link-layer header; skb->protocol names the family).
 * Up to two in-packet VLAN tags (802.1Q/802.1ad) are skipped; an outer tag
 * already accelerated into skb->vlan_tci is not in the data.
 */
static __always_inline int nfr_parse(struct __sk_buff *skb, struct nfr_pkt *pkt,
				     int l3)
{
	__u32 off = ETH_HLEN;
	__be16 proto;
	int i;

	if (nfr_parse_fast(skb, pkt, l3) == NFR_PARSE_OK)
		return NFR_PARSE_OK;
	__builtin_memset(pkt, 0, sizeof(*pkt));
	if (l3) {
		off = 0;
		proto = (__be16)skb->protocol;
		goto network;
	}
	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return NFR_PARSE_NOT_IP;

#pragma unroll
	for (i = 0; i < NFR_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(NFR_ETH_P_8021Q) &&
		    proto != bpf_htons(NFR_ETH_P_8021AD))
			break;
		/* TCI (2 bytes) then the encapsulated ethertype. */
		if (bpf_skb_load_bytes(skb, off + 2, &proto, sizeof(proto)))
			return NFR_PARSE_NOT_IP;
		off += 4;
	}

network:
	if (proto == bpf_htons(ETH_P_IP))
		return nfr_parse_ipv4(skb, off, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return nfr_parse_ipv6(skb, off, pkt);
	return NFR_PARSE_NOT_IP;
}

#endif /* NFR_PARSE_H */
