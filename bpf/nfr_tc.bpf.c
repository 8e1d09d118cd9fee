// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc classifier: picks the packets that need a userspace verdict (new
 * connections no cached decision covers, packets of pending flows) and
 * sends them up: natively through bpf_redirect(0, BPF_F_NETFILTER), or in
 * compat mode by marking them for the agent's NFQUEUE rule. Everything
 * else passes with no map writes.
 *
 * Fragments: only the first fragment carries ports. Later fragments are
 * passed untouched (counted NOT_NEW); the stack reassembles or drops them
 * according to what happened to the first fragment.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "nfr_abi.h"
#include "nfr_flows_map.h"
#include "parse.h"

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nfr_config);
} nfr_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NFR_SEL_PREFIXES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nfr_lpm_v4_key);
	__type(value, __u8);
} nfr_sel_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NFR_SEL_PREFIXES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct nfr_lpm_v6_key);
	__type(value, __u8);
} nfr_sel_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} nfr_sel_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} nfr_sel_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NFR_IFACES_MAX);
	__type(key, __u32);
	__type(value, struct nfr_iface);
} nfr_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NFR_IFIDX_MAX);
	__type(key, __u32);
	__type(value, struct nfr_iface);
} nfr_ifidx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NFR_BUDGET_SOURCES_MAX);
	__type(key, struct nfr_budget_key);
	__type(value, struct nfr_budget_value);
} nfr_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NFR_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nfr_stats SEC(".maps");

static __always_inline void nfr_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&nfr_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline int nfr_sel_flag(__u32 *map_key, void *map)
{
	__u8 *v = bpf_map_lookup_elem(map, map_key);

	return v && *v;
}

static __always_inline int nfr_prefix_hit_v4(__be32 addr)
{
	struct nfr_lpm_v4_key k = { .prefixlen = 32, .addr = addr };
	__u8 *v = bpf_map_lookup_elem(&nfr_sel_v4, &k);

	return v && *v;
}

static __always_inline int nfr_prefix_hit_v6(const __be32 *addr)
{
	struct nfr_lpm_v6_key k = { .prefixlen = 128 };
	__u8 *v;

	__builtin_memcpy(k.addr, addr, 16);
	v = bpf_map_lookup_elem(&nfr_sel_v6, &k);
	return v && *v;
}

/* Protocol, destination port (TCP/UDP only) and prefix selectors. */
static __always_inline int nfr_selected(const struct nfr_config *cfg,
					const struct nfr_pkt *pkt)
{
	__u32 k = pkt->key.proto;

	if (!nfr_sel_flag(&k, &nfr_sel_proto))
		return 0;
	if ((cfg->flags & NFR_CFG_PORT_FILTER) && pkt->has_ports) {
		k = bpf_ntohs(pkt->key.dport);
		if (!nfr_sel_flag(&k, &nfr_sel_ports))
			return 0;
	}
	if (pkt->key.family == AF_INET &&
	    (cfg->flags & NFR_CFG_V4_PREFIX_FILTER))
		return nfr_prefix_hit_v4(pkt->key.saddr[0]) ||
		       nfr_prefix_hit_v4(pkt->key.daddr[0]);
	if (pkt->key.family == AF_INET6 &&
	    (cfg->flags & NFR_CFG_V6_PREFIX_FILTER))
		return nfr_prefix_hit_v6(pkt->key.saddr) ||
		       nfr_prefix_hit_v6(pkt->key.daddr);
	return 1;
}

/*
 * Charges one new flow to the sender's bucket; 0 = over budget. Lock-free:
 * the charge is an atomic add, so concurrent CPUs cannot share one token.
 * Only the refill of an idle bucket (tat in the past) is a plain store.
 */
static __always_inline int nfr_budget_ok(const struct nfr_config *cfg,
					 const struct nfr_pkt *pkt, __u64 now)
{
	struct nfr_budget_key k = { .family = pkt->key.family };
	struct nfr_budget_value *b, fresh;
	__u64 interval, burst, tat;

	if (!cfg->budget_rate)
		return 1;
	interval = 1000000000ULL / cfg->budget_rate;
	burst = cfg->budget_burst ? cfg->budget_burst : cfg->budget_rate;
	k.addr[0] = pkt->key.saddr[0];
	if (pkt->key.family == AF_INET6)
		k.addr[1] = pkt->key.saddr[1];

	b = bpf_map_lookup_elem(&nfr_budget, &k);
	if (!b) {
		fresh.tat_ns = now + interval;
		bpf_map_update_elem(&nfr_budget, &k, &fresh, BPF_NOEXIST);
		return 1;
	}
	tat = READ_ONCE(b->tat_ns);
	if (tat < now) {
		tat = now;
		WRITE_ONCE(b->tat_ns, now);
	}
	if (tat > now + (burst - 1) * interval)
		return 0;
	__sync_fetch_and_add(&b->tat_ns, interval);
	return 1;
}

static __always_inline int nfr_no_pathway(const struct nfr_config *cfg)
{
	nfr_count(NFR_STAT_NO_PATHWAY);
	if (cfg->flags & NFR_CFG_FAIL_CLOSED) {
		nfr_count(NFR_STAT_FAIL_CLOSED_DROP);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

/*
 * Hands the packet to userspace. Native: the kernel's netfilter pathway;
 * a kernel without it refuses the flag (returns TC_ACT_SHOT) and we fall
 * back to compat marking on ingress. Never trust a bare TC_ACT_REDIRECT
 * from elsewhere: only the helper's own return value counts.
 */
static __always_inline int nfr_send_up(struct __sk_buff *skb,
				       const struct nfr_config *cfg, int dir)
{
	if (cfg->mode == NFR_MODE_NATIVE) {
		long r = bpf_redirect(0, NFR_BPF_F_NETFILTER);

		if (r == TC_ACT_REDIRECT) {
			nfr_count(NFR_STAT_TO_NATIVE);
			return TC_ACT_REDIRECT;
		}
		nfr_count(NFR_STAT_NATIVE_REFUSED);
	}
	if (dir == NFR_DIR_INGRESS && cfg->compat_mark) {
		skb->mark |= cfg->compat_mark;
		nfr_count(NFR_STAT_TO_COMPAT);
		return TC_ACT_OK;
	}
	return nfr_no_pathway(cfg);
}

/* A live entry for key (the coarse clock is enough for expiry), or NULL. */
static __always_inline struct nfr_flow_value *
nfr_cached(const struct nfr_flow_key *key)
{
	struct nfr_flow_value *v = bpf_map_lookup_elem(&nfr_flows, key);

	if (v && v->expires_ns != 0 &&
	    v->expires_ns <= bpf_ktime_get_coarse_ns())
		return 0;
	return v;
}

/* The live entry of the flow this packet would answer (reversed key). */
static __always_inline struct nfr_flow_value *
nfr_cached_reply(const struct nfr_flow_key *key)
{
	struct nfr_flow_key r = {
		.family = key->family,
		.proto = key->proto,
		.sport = key->dport,
		.dport = key->sport,
	};

	__builtin_memcpy(r.saddr, key->daddr, sizeof(r.saddr));
	__builtin_memcpy(r.daddr, key->saddr, sizeof(r.daddr));
	return nfr_cached(&r);
}

static __always_inline int nfr_handle(struct __sk_buff *skb, int dir)
{
	__u32 zero = 0, ifindex = skb->ifindex;
	struct nfr_flow_value *cached;
	struct nfr_flow_value pending;
	struct nfr_config *cfg;
	struct nfr_iface *ifc;
	struct nfr_pkt pkt;
	__u64 now;
	int r;

	cfg = bpf_map_lookup_elem(&nfr_config, &zero);
	if (!cfg || cfg->mode == NFR_MODE_OFF)
		return TC_ACT_OK;
	ifc = ifindex < NFR_IFIDX_MAX ? bpf_map_lookup_elem(&nfr_ifidx, &ifindex) :
					bpf_map_lookup_elem(&nfr_ifaces, &ifindex);
	if (!ifc || !(ifc->flags & (dir == NFR_DIR_INGRESS ? NFR_IF_INGRESS :
							      NFR_IF_EGRESS)))
		return TC_ACT_OK;
	nfr_count(NFR_STAT_PACKETS);

	r = nfr_parse(skb, &pkt, ifc->flags & NFR_IF_L3);
	if (r == NFR_PARSE_NOT_IP) {
		nfr_count(NFR_STAT_NOT_IP);
		return TC_ACT_OK;
	}
	if (r == NFR_PARSE_LATER_FRAG) {
		nfr_count(NFR_STAT_NOT_NEW);
		return TC_ACT_OK;
	}

	cached = nfr_cached(&pkt.key);
	if (!cached && pkt.key.proto == IPPROTO_UDP) {
		cached = nfr_cached_reply(&pkt.key);
		if (cached && (!(cached->flags & NFR_FLOW_F_REPLIES) ||
			       (cached->verdict != NFR_VERDICT_ALLOW &&
				cached->verdict != NFR_VERDICT_DENY)))
			cached = 0;
	}
	if (cached) {
		switch (cached->verdict) {
		case NFR_VERDICT_ALLOW:
			nfr_count(NFR_STAT_CACHE_ALLOW);
			return TC_ACT_OK;
		case NFR_VERDICT_DENY:
			nfr_count(NFR_STAT_CACHE_DENY);
			return TC_ACT_SHOT;
		case NFR_VERDICT_PENDING:
			nfr_count(NFR_STAT_CACHE_PENDING);
			return nfr_send_up(skb, cfg, dir);
		default:
			break;	/* NONE: treat as a miss */
		}
	}

	if (!pkt.is_new) {
		nfr_count(NFR_STAT_NOT_NEW);
		return TC_ACT_OK;
	}
	if (!nfr_selected(cfg, &pkt)) {
		nfr_count(NFR_STAT_UNSELECTED);
		return TC_ACT_OK;
	}
	now = bpf_ktime_get_ns();
	if (!nfr_budget_ok(cfg, &pkt, now)) {
		nfr_count(NFR_STAT_BUDGET_EXCEEDED);
		return (cfg->flags & NFR_CFG_DEFAULT_DROP) ? TC_ACT_SHOT : TC_ACT_OK;
	}
	__builtin_memset(&pending, 0, sizeof(pending));
	pending.expires_ns = now + (__u64)cfg->pending_ttl_ms * 1000000ULL;
	pending.verdict = NFR_VERDICT_PENDING;
	pending.origin = NFR_ORIGIN_NONE;
	pending.direction = dir;
	pending.ifindex = ifindex;
	bpf_map_update_elem(&nfr_flows, &pkt.key, &pending, BPF_ANY);
	return nfr_send_up(skb, cfg, dir);
}

SEC("tc")
int nfr_ingress(struct __sk_buff *skb)
{
	return nfr_handle(skb, NFR_DIR_INGRESS);
}

SEC("tc")
int nfr_egress(struct __sk_buff *skb)
{
	return nfr_handle(skb, NFR_DIR_EGRESS);
}

/* Capability probe for BPF_PROG_TEST_RUN: TC_ACT_REDIRECT = native pathway. */
SEC("tc")
int nfr_probe(struct __sk_buff *skb)
{
	return bpf_redirect(0, NFR_BPF_F_NETFILTER);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
