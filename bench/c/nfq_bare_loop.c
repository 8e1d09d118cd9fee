/* The bare NFQUEUE baseline: bind one queue like nfr-agent does (copy 512 bytes, max_len 4096,
 * 8 MiB receive buffer, GSO, fail-open), read one message per recv() and accept each packet with
 * its own verdict. Nothing else. Exits on SIGTERM and prints {"verdicts": N}.
 * usage: nfq_bare_loop QUEUE */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static unsigned long long verdicts;

static void on_term(int sig) { (void)sig; stop = 1; }

static int cb(const struct nlmsghdr *nlh, void *data)
{
	struct mnl_socket *nl = data;
	struct nlattr *attr[NFQA_MAX + 1] = {};
	struct nfqnl_msg_packet_hdr *ph;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *v;
	uint16_t q = ntohs(((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->res_id);

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	v = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, q);
	nfq_nlmsg_verdict_put(v, ntohl(ph->packet_id), NF_ACCEPT);
	if (mnl_socket_sendto(nl, v, v->nlmsg_len) > 0)
		verdicts++;
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	static char buf[128 * 1024];
	struct sigaction sa = { .sa_handler = on_term };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int q, size = 8 << 20;

	if (argc != 2)
		return 2;
	q = atoi(argv[1]);
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: recv returns EINTR */
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("netlink");
		return 1;
	}
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return 1;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 512);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, 4096);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		int n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("recv");
			break;
		}
		mnl_cb_run(buf, n, 0, 0, cb, nl);
	}
	printf("{\"verdicts\": %llu}\n", verdicts);
	return 0;
}
