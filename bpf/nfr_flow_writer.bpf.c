// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's batch writer for nfr_flows (a syscall program the agent runs
 * with BPF_PROG_RUN; its nfr_flows is the tc program's map, reused by fd).
 *
 * Why: an update of an LRU hash entry from userspace always takes a fresh
 * node from the LRU (evicting when the map is full) and frees the old one,
 * even to overwrite the PENDING entry the tc program inserted for the same
 * flow a moment earlier. Here a live PENDING entry is overwritten in place,
 * verdict last; anything else is an ordinary update (BPF_ANY).
 *
 * In-place writes share the limits of any BPF program writing a looked-up
 * LRU value: a node evicted and reused for another key between the lookup
 * and the stores would take this value. The PENDING entry is the newest in
 * the LRU, so that needs the whole map to turn over within those few
 * instructions.
 *
 * Separate from nfr_tc.bpf.c so that a kernel refusing it (syscall programs
 * need Linux 5.14) only costs the agent the faster path.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "nfr_abi.h"
#include "nfr_flows_map.h"

#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* Returns how many entries were written (stops at the first that fails), or -1. */
SEC("syscall")
int nfr_write_flows(struct nfr_flow_write_args *args)
{
	__u64 base = args->entries;
	__u32 n = args->count, in_place = 0;
	struct nfr_flow_write w;
	int i;

	for (i = 0; i < NFR_FLOW_WRITE_MAX; i++) {
		struct nfr_flow_value *v;

		if (i >= n)
			break;
		if (bpf_copy_from_user(&w, sizeof(w), (void *)(base + i * sizeof(w))))
			return -1;
		v = bpf_map_lookup_elem(&nfr_flows, &w.key);
		if (v && v->verdict == NFR_VERDICT_PENDING) {
			v->expires_ns = w.value.expires_ns;
			v->origin = w.value.origin;
			v->direction = w.value.direction;
			v->flags = w.value.flags;
			v->ifindex = w.value.ifindex;
			v->rule = w.value.rule;
			v->origin_id = w.value.origin_id;
			asm volatile("" ::: "memory");
			WRITE_ONCE(v->verdict, w.value.verdict);
			in_place++;
		} else if (bpf_map_update_elem(&nfr_flows, &w.key, &w.value, BPF_ANY)) {
			break;
		}
	}
	args->in_place = in_place;
	return i;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
