// SPDX-License-Identifier: GPL-2.0
/* tc test program for the VM tests, configured per interface (skb->ifindex)
 * through the pinned map nfr_vm_cfg:
 *   NF         bpf_redirect(0, BPF_F_NETFILTER) for TCP, UDP, ICMP(v6) echo;
 *              everything else (ARP, neighbour discovery) passes
 *   REDIRECT   ordinary bpf_redirect(target, 0) after rewriting the MACs
 *   NF_BADIDX  bpf_redirect(1, BPF_F_NETFILTER): the kernel must refuse it
 *   NF_THEN_OK bpf_redirect(0, BPF_F_NETFILTER), then TC_ACT_OK anyway
 *   BARE       TC_ACT_REDIRECT without calling the helper
 *   NF_CLASSID tc_classid 0x2a, then as NF
 *   TCINDEX    record skb->tc_index, pass
 * Outcomes are counted per interface in nfr_vm_stats.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define NFR_VM_F_NETFILTER (1ULL << 12)

enum nfr_vm_action {
	NFR_VM_PASS = 0,
	NFR_VM_NF = 1,
	NFR_VM_REDIRECT = 2,
	NFR_VM_NF_BADIDX = 3,
	NFR_VM_NF_THEN_OK = 4,
	NFR_VM_BARE = 5,
	NFR_VM_NF_CLASSID = 6,
	NFR_VM_TCINDEX = 7,
};

struct nfr_vm_cfg {
	__u32 action;
	__u32 target_ifindex;
	__u8 dmac[6];
	__u8 smac[6];
};

struct nfr_vm_stats {
	__u64 seen;		/* packets the action applied to */
	__u64 ret_redirect;	/* helper returned TC_ACT_REDIRECT */
	__u64 ret_shot;		/* helper returned TC_ACT_SHOT (refused) */
	__u64 tc_index;		/* TCINDEX: skb->tc_index of the last packet */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct nfr_vm_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nfr_vm_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct nfr_vm_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nfr_vm_stats SEC(".maps");

/* 1 if the packet is TCP, UDP or an ICMP/ICMPv6 echo request or reply */
static __always_inline int selected(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 proto, *l4;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return 0;
		proto = ip->protocol;
		l4 = (__u8 *)ip + ip->ihl * 4;
		if (proto == IPPROTO_ICMP)
			return (void *)(l4 + 1) <= end && (*l4 == 8 || *l4 == 0);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return 0;
		proto = ip6->nexthdr;
		l4 = (__u8 *)(ip6 + 1);
		if (proto == IPPROTO_ICMPV6)
			return (void *)(l4 + 1) <= end &&
			       (*l4 == 128 || *l4 == 129);
	} else {
		return 0;
	}
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

static __always_inline struct nfr_vm_stats *stats(__u32 key)
{
	struct nfr_vm_stats zero = {}, *st;

	st = bpf_map_lookup_elem(&nfr_vm_stats, &key);
	if (!st) {
		bpf_map_update_elem(&nfr_vm_stats, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&nfr_vm_stats, &key);
	}
	return st;
}

static __always_inline void count(__u32 key, long ret)
{
	struct nfr_vm_stats *st = stats(key);

	if (!st)
		return;
	__sync_fetch_and_add(&st->seen, 1);
	if (ret == TC_ACT_REDIRECT)
		__sync_fetch_and_add(&st->ret_redirect, 1);
	else if (ret == TC_ACT_SHOT)
		__sync_fetch_and_add(&st->ret_shot, 1);
}

SEC("tc")
int nfr_vm_tc(struct __sk_buff *skb)
{
	__u32 key = skb->ifindex;
	struct nfr_vm_cfg *cfg;
	long ret;

	cfg = bpf_map_lookup_elem(&nfr_vm_cfg, &key);
	if (!cfg || cfg->action == NFR_VM_PASS || !selected(skb))
		return TC_ACT_OK;

	switch (cfg->action) {
	case NFR_VM_NF:
		ret = bpf_redirect(0, NFR_VM_F_NETFILTER);
		break;
	case NFR_VM_NF_BADIDX:
		ret = bpf_redirect(1, NFR_VM_F_NETFILTER);
		break;
	case NFR_VM_NF_THEN_OK:
		count(key, bpf_redirect(0, NFR_VM_F_NETFILTER));
		return TC_ACT_OK;
	case NFR_VM_BARE:
		ret = TC_ACT_REDIRECT;
		break;
	case NFR_VM_NF_CLASSID:
		skb->tc_classid = 0x2a;
		ret = bpf_redirect(0, NFR_VM_F_NETFILTER);
		break;
	case NFR_VM_TCINDEX: {
		struct nfr_vm_stats *st = stats(key);

		if (st)
			st->tc_index = skb->tc_index;
		return TC_ACT_OK;
	}
	case NFR_VM_REDIRECT:
		if (bpf_skb_store_bytes(skb, 0, cfg->dmac, 6, 0) ||
		    bpf_skb_store_bytes(skb, 6, cfg->smac, 6, 0))
			return TC_ACT_SHOT;
		ret = bpf_redirect(cfg->target_ifindex, 0);
		break;
	default:
		return TC_ACT_OK;
	}
	count(key, ret);
	return ret;
}

char _license[] SEC("license") = "GPL";
