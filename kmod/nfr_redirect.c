// SPDX-License-Identifier: GPL-2.0
/* nfr_redirect: queue packets that tc BPF programs sent to netfilter with
 * bpf_redirect(0, BPF_F_NETFILTER) to NFQUEUE, in every network namespace.
 *
 * Hooks NF_INET_REDIRECT_INGRESS and NF_INET_REDIRECT_EGRESS for IPv4 and
 * IPv6.  Ingress packets go to queue_ingress, egress packets to queue_egress,
 * spread over queue_count queues by a flow hash.  Without a listener on the
 * queue the packet continues (NF_VERDICT_FLAG_QUEUE_BYPASS) unless
 * fail_closed is set.  Per-netns counters: /proc/net/nfr_redirect.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_queue.h>

#ifndef CONFIG_NETFILTER_TC_REDIRECT
#error "kernel lacks CONFIG_NETFILTER_TC_REDIRECT: apply kernel/patches and enable it"
#endif

static unsigned int queue_ingress = 4200;
module_param(queue_ingress, uint, 0444);
MODULE_PARM_DESC(queue_ingress, "First NFQUEUE number for ingress packets (default 4200)");

static unsigned int queue_egress = 4200;
module_param(queue_egress, uint, 0444);
MODULE_PARM_DESC(queue_egress, "First NFQUEUE number for egress packets (default 4200)");

static unsigned int queue_count = 1;
module_param(queue_count, uint, 0444);
MODULE_PARM_DESC(queue_count, "Queues per direction, chosen by flow hash (default 1)");

static bool fail_closed;
module_param(fail_closed, bool, 0444);
MODULE_PARM_DESC(fail_closed, "Drop packets when no program listens on the queue (default: let them pass)");

enum nfr_counter {
	NFR_INGRESS_IPV4,
	NFR_INGRESS_IPV6,
	NFR_EGRESS_IPV4,
	NFR_EGRESS_IPV6,
	NFR_COUNTER_MAX,
};

static const char * const nfr_counter_names[NFR_COUNTER_MAX] = {
	[NFR_INGRESS_IPV4] = "ingress_ipv4",
	[NFR_INGRESS_IPV6] = "ingress_ipv6",
	[NFR_EGRESS_IPV4] = "egress_ipv4",
	[NFR_EGRESS_IPV6] = "egress_ipv6",
};

struct nfr_net {
	atomic_long_t queued[NFR_COUNTER_MAX];
};

static unsigned int nfr_net_id __read_mostly;
static u32 nfr_hash_seed __read_mostly;

/* Spread flows over queue_count queues; both directions of a flow share one */
static u16 nfr_queue(struct sk_buff *skb, u8 pf, u16 first)
{
	unsigned int hlen = pf == NFPROTO_IPV6 ? sizeof(struct ipv6hdr) :
						 sizeof(struct iphdr);

	if (queue_count == 1 || !pskb_may_pull(skb, hlen))
		return first;
	return nfqueue_hash(skb, first, queue_count, pf, nfr_hash_seed);
}

static unsigned int nfr_hook(void *priv, struct sk_buff *skb,
			     const struct nf_hook_state *state)
{
	struct nfr_net *nn = net_generic(state->net, nfr_net_id);
	bool ingress = state->hook == NF_INET_REDIRECT_INGRESS;
	bool ipv6 = state->pf == NFPROTO_IPV6;
	unsigned int verdict;
	u16 queue;

	queue = nfr_queue(skb, state->pf,
			  ingress ? queue_ingress : queue_egress);

	atomic_long_inc(&nn->queued[(ingress ? NFR_INGRESS_IPV4 :
				     NFR_EGRESS_IPV4) + ipv6]);

	verdict = NF_QUEUE_NR(queue);
	if (!fail_closed)
		verdict |= NF_VERDICT_FLAG_QUEUE_BYPASS;
	return verdict;
}

static const struct nf_hook_ops nfr_ops[] = {
	{
		.hook = nfr_hook,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_REDIRECT_INGRESS,
		.priority = NF_IP_PRI_FILTER,
	},
	{
		.hook = nfr_hook,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_REDIRECT_EGRESS,
		.priority = NF_IP_PRI_FILTER,
	},
	{
		.hook = nfr_hook,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_REDIRECT_INGRESS,
		.priority = NF_IP6_PRI_FILTER,
	},
	{
		.hook = nfr_hook,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_REDIRECT_EGRESS,
		.priority = NF_IP6_PRI_FILTER,
	},
};

static int nfr_proc_show(struct seq_file *m, void *v)
{
	struct nfr_net *nn = net_generic(seq_file_single_net(m), nfr_net_id);
	int i;

	for (i = 0; i < NFR_COUNTER_MAX; i++)
		seq_printf(m, "%s %ld\n", nfr_counter_names[i],
			   atomic_long_read(&nn->queued[i]));
	seq_printf(m, "queue_ingress %u\n", queue_ingress);
	seq_printf(m, "queue_egress %u\n", queue_egress);
	seq_printf(m, "queue_count %u\n", queue_count);
	seq_printf(m, "fail_closed %d\n", fail_closed);
	return 0;
}

static int __net_init nfr_net_init(struct net *net)
{
	int err;

	if (!proc_create_net_single("nfr_redirect", 0444, net->proc_net,
				    nfr_proc_show, NULL))
		return -ENOMEM;

	err = nf_register_net_hooks(net, nfr_ops, ARRAY_SIZE(nfr_ops));
	if (err)
		remove_proc_entry("nfr_redirect", net->proc_net);
	return err;
}

/* Unregistering drops the packets still queued from our hooks
 * (nf_queue_nf_hook_drop()), so nothing refers to this module afterwards.
 */
static void __net_exit nfr_net_exit(struct net *net)
{
	nf_unregister_net_hooks(net, nfr_ops, ARRAY_SIZE(nfr_ops));
	remove_proc_entry("nfr_redirect", net->proc_net);
}

static struct pernet_operations nfr_net_ops = {
	.init = nfr_net_init,
	.exit = nfr_net_exit,
	.id = &nfr_net_id,
	.size = sizeof(struct nfr_net),
};

/* Every queue of both ranges must be a valid NFQUEUE number (0..65535);
 * computed in 64 bits so that large values cannot wrap around.
 */
static bool nfr_queue_range_ok(const char *name, unsigned int first)
{
	u64 last = (u64)first + queue_count - 1;

	if (last <= U16_MAX)
		return true;
	pr_err("%s=%u with queue_count=%u uses queues up to %llu; all must be within 0..65535\n",
	       name, first, queue_count, last);
	return false;
}

static int __init nfr_init(void)
{
	if (!queue_count) {
		pr_err("queue_count must be at least 1\n");
		return -EINVAL;
	}
	if (!nfr_queue_range_ok("queue_ingress", queue_ingress) ||
	    !nfr_queue_range_ok("queue_egress", queue_egress))
		return -EINVAL;

	nfr_hash_seed = get_random_u32();
	return register_pernet_subsys(&nfr_net_ops);
}

static void __exit nfr_exit(void)
{
	unregister_pernet_subsys(&nfr_net_ops);
}

module_init(nfr_init);
module_exit(nfr_exit);

MODULE_DESCRIPTION("Queue tc -> netfilter redirected packets to NFQUEUE");
MODULE_LICENSE("GPL");
