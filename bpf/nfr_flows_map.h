/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nfr_flows, the flow cache: defined once for every BPF object that uses it (the tc program,
 * and the flow writer, which the agent points at the tc program's map with bpf_map__reuse_fd).
 */
#ifndef NFR_FLOWS_MAP_H
#define NFR_FLOWS_MAP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "nfr_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NFR_FLOWS_MAX);
	__type(key, struct nfr_flow_key);
	__type(value, struct nfr_flow_value);
} nfr_flows SEC(".maps");

#endif /* NFR_FLOWS_MAP_H */
