/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys, values and constants shared by the tc program (bpf/) and
 * nfr-agent. Every map layout is defined here and only here.
 */
#ifndef NFR_ABI_H
#define NFR_ABI_H

#include <linux/types.h>

/* Kernel contract (DESIGN section 2). */
#define NFR_BPF_F_NETFILTER (1ULL << 12)
#define NFR_HOOK_REDIRECT_INGRESS 6
#define NFR_HOOK_REDIRECT_EGRESS 7
#define NFR_KERNEL_ABI_VERSION 1

/*
 * Layout of the pinned maps. The agent stamps it into nfr_config and adopts
 * the maps a previous agent left pinned (flow cache, budget, stats) only
 * when the stamp matches. Bump on any change to a map key, value or type.
 */
#define NFR_MAP_LAYOUT_VERSION 1

/* Map names; also the pin file names under the pin directory. */
#define NFR_MAP_CONFIG "nfr_config"
#define NFR_MAP_FLOWS "nfr_flows"
#define NFR_MAP_SEL_V4 "nfr_sel_v4"
#define NFR_MAP_SEL_V6 "nfr_sel_v6"
#define NFR_MAP_SEL_PROTO "nfr_sel_proto"
#define NFR_MAP_SEL_PORTS "nfr_sel_ports"
#define NFR_MAP_IFACES "nfr_ifaces"
#define NFR_MAP_STATS "nfr_stats"
#define NFR_MAP_BUDGET "nfr_budget"
#define NFR_MAP_IFIDX "nfr_ifidx"

/* Default size of nfr_flows; the agent resizes it before load (flow_cache.max_entries). */
#define NFR_FLOWS_MAX 65536
#define NFR_BUDGET_SOURCES_MAX 16384
#define NFR_SEL_PREFIXES_MAX 1024
#define NFR_IFACES_MAX 256
#define NFR_IFIDX_MAX 4096

enum nfr_mode {
	NFR_MODE_OFF = 0,	/* program passes everything */
	NFR_MODE_NATIVE = 1,	/* bpf_redirect(0, BPF_F_NETFILTER) */
	NFR_MODE_COMPAT = 2,	/* mark; one netfilter rule queues it */
};

#define NFR_CFG_FAIL_CLOSED (1U << 0)	/* no pathway available: drop */
#define NFR_CFG_PORT_FILTER (1U << 1)	/* only dports set in nfr_sel_ports */
#define NFR_CFG_V4_PREFIX_FILTER (1U << 2) /* src or dst must hit nfr_sel_v4 */
#define NFR_CFG_V6_PREFIX_FILTER (1U << 3) /* src or dst must hit nfr_sel_v6 */
#define NFR_CFG_DEFAULT_DROP (1U << 4)	/* policy default verdict is drop */

/* nfr_config: ARRAY, one entry at key 0. */
struct nfr_config {
	__u32 mode;		/* enum nfr_mode */
	__u32 flags;		/* NFR_CFG_* */
	__u32 compat_mark;	/* OR-ed into skb->mark in compat mode */
	__u32 pending_ttl_ms;	/* lifetime of pending entries the program adds */
	/*
	 * Per-source new-flow budget (nfr_budget): new flows a source (/32 or
	 * /64) may send up per second, and how many at once. rate 0 = no budget.
	 * Over budget: the policy's default verdict (NFR_CFG_DEFAULT_DROP) in
	 * the kernel, no cache entry, counted NFR_STAT_BUDGET_EXCEEDED.
	 */
	__u32 budget_rate;	/* new flows per second per source */
	__u32 budget_burst;	/* bucket depth; 0 = same as budget_rate */
	__u32 layout_version;	/* NFR_MAP_LAYOUT_VERSION of the agent that wrote it */
};

enum nfr_verdict {
	NFR_VERDICT_NONE = 0,
	NFR_VERDICT_ALLOW = 1,
	NFR_VERDICT_DENY = 2,
	NFR_VERDICT_PENDING = 3,	/* waiting for userspace; packets go up */
};

/*
 * nfr_flows: LRU_HASH. Directional 5-tuple as seen by the program.
 * family is AF_INET (2) or AF_INET6 (10); IPv4 addresses use word 0,
 * other words zero. Ports in network order; for ICMP/ICMPv6 echo
 * sport is the echo identifier and dport is 0.
 */
struct nfr_flow_key {
	__u8 family;
	__u8 proto;
	__u16 pad;
	__be16 sport;
	__be16 dport;
	__be32 saddr[4];
	__be32 daddr[4];
};

/* Who wrote a flow-cache entry; the agent re-evaluates by origin. */
enum nfr_origin {
	NFR_ORIGIN_NONE = 0,		/* written by the program (pending) */
	NFR_ORIGIN_POLICY = 1,
	NFR_ORIGIN_CONTROLLER = 2,
	NFR_ORIGIN_DEFAULT = 3,		/* timeout/overflow default verdict */
	NFR_ORIGIN_OPERATOR = 4,	/* nfrctl flows deny */
};

#define NFR_DIR_INGRESS 0
#define NFR_DIR_EGRESS 1

/* The entry lets the replies of the flow keyed by its reverse through. */
#define NFR_FLOW_F_REPLY (1U << 0)
/*
 * The entry's verdict also covers its replies: a UDP packet with no entry
 * of its own gets the verdict of the entry on its reversed 5-tuple when
 * that entry has this flag (one map entry per accepted UDP flow).
 */
#define NFR_FLOW_F_REPLIES (1U << 1)

struct nfr_flow_value {
	/*
	 * CLOCK_MONOTONIC == bpf_ktime_get_ns(); 0 = never. Checked against
	 * the coarse clock, so an entry lives up to one tick past it.
	 */
	__u64 expires_ns;
	__u32 verdict;		/* enum nfr_verdict */
	__u8 origin;		/* enum nfr_origin */
	__u8 direction;		/* NFR_DIR_INGRESS / NFR_DIR_EGRESS */
	__u16 flags;		/* NFR_FLOW_F_* (agent bookkeeping) */
	__u32 ifindex;		/* interface the flow was first seen on */
	__u32 rule;		/* policy: rule index + 1, 0 = default verdict */
	__u64 origin_id;	/* policy: policy version; controller: decision-log id */
};

/* nfr_sel_v4 / nfr_sel_v6: LPM_TRIE, value __u8 (1 = selected). */
struct nfr_lpm_v4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct nfr_lpm_v6_key {
	__u32 prefixlen;
	__be32 addr[4];
};

/* nfr_sel_proto: ARRAY[256] of __u8, keyed by IP protocol number. */
/* nfr_sel_ports: ARRAY[65536] of __u8, keyed by host-order dport. */

/* nfr_ifaces: HASH ifindex -> struct nfr_iface. Absent = not enabled. */
#define NFR_IF_INGRESS (1U << 0)
#define NFR_IF_EGRESS (1U << 1)
#define NFR_IF_L3 (1U << 2)	/* no L2 header: data starts at IP (tun, wg, ppp) */
struct nfr_iface {
	__u32 flags;		/* NFR_IF_* */
};

/*
 * nfr_ifidx: ARRAY[NFR_IFIDX_MAX] of struct nfr_iface, indexed by ifindex:
 * the same entries as nfr_ifaces for ifindex < NFR_IFIDX_MAX (flags 0 = not
 * enabled), so the program's per-packet interface check is an array lookup;
 * larger ifindexes are looked up in nfr_ifaces.
 */

/*
 * nfr_budget: LRU_HASH source -> token bucket, kept as a GCRA "theoretical
 * arrival time": a new flow is within budget while tat <= now + (burst - 1)
 * * interval, and then moves tat one interval (1e9 / rate ns) on.
 * IPv4 sources use addr[0] (/32), IPv6 sources the first 64 bits.
 */
struct nfr_budget_key {
	__u32 family;
	__be32 addr[2];
};

struct nfr_budget_value {
	__u64 tat_ns;
};

/* nfr_stats: PERCPU_ARRAY[NFR_STAT_MAX] of __u64. */
enum nfr_stat {
	NFR_STAT_PACKETS = 0,		/* seen on an enabled interface */
	NFR_STAT_NOT_IP,		/* non-IP or unparseable: passed */
	NFR_STAT_UNSELECTED,		/* selectors did not match: passed */
	NFR_STAT_NOT_NEW,		/* no cache entry, not a new flow */
	NFR_STAT_CACHE_ALLOW,		/* cached allow: passed in kernel */
	NFR_STAT_CACHE_DENY,		/* cached deny: dropped in kernel */
	NFR_STAT_CACHE_PENDING,		/* flow pending: sent up again */
	NFR_STAT_TO_NATIVE,		/* redirected to the netfilter hook */
	NFR_STAT_TO_COMPAT,		/* marked for the compat rule */
	NFR_STAT_NATIVE_REFUSED,	/* kernel refused BPF_F_NETFILTER */
	NFR_STAT_NO_PATHWAY,		/* egress in compat mode, etc. */
	NFR_STAT_FAIL_CLOSED_DROP,	/* dropped because no pathway */
	NFR_STAT_BUDGET_EXCEEDED,	/* new flow over its source's budget */
	NFR_STAT_MAX,
};

/*
 * nfr_write_flows (nfr_flow_writer.bpf.c), run by the agent with
 * BPF_PROG_RUN: writes up to NFR_FLOW_WRITE_MAX entries read from the
 * caller's memory at `entries`. Not a map: nothing here is pinned or adopted.
 */
#define NFR_FLOW_WRITE_MAX 256

struct nfr_flow_write {
	struct nfr_flow_key key;
	struct nfr_flow_value value;
};

struct nfr_flow_write_args {
	__u64 entries;		/* user address of count struct nfr_flow_write */
	__u32 count;
	__u32 in_place;		/* out: entries overwritten in place */
};

#endif /* NFR_ABI_H */
