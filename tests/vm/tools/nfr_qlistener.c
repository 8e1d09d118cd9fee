// SPDX-License-Identifier: GPL-2.0
/* NFQUEUE listener for the VM tests: binds one queue, prints one line per
 * packet (hook number, family, addresses, length) and answers accept or
 * drop, or holds every packet without a verdict.  With --release FILE, held
 * packets are accepted once FILE exists, and later ones at once.  On
 * SIGTERM/SIGINT it prints a summary line and exits.
 *
 * nfr-qlistener --queue N [--verdict accept|drop|hold] [--gso]
 *               [--ready FILE] [--release FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum verdict_mode { MODE_ACCEPT, MODE_DROP, MODE_HOLD };

static volatile sig_atomic_t stop;
static enum verdict_mode mode = MODE_ACCEPT;
static unsigned long packets, by_hook[8], max_len;
static uint32_t held[4096];
static unsigned int nheld;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void describe(const unsigned char *p, int len, char *out, size_t n)
{
	char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
	int proto = -1;
	const char *fam = "other";

	if (len >= 20 && (p[0] >> 4) == 4) {
		fam = "ipv4";
		inet_ntop(AF_INET, p + 12, src, sizeof(src));
		inet_ntop(AF_INET, p + 16, dst, sizeof(dst));
		proto = p[9];
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		fam = "ipv6";
		inet_ntop(AF_INET6, p + 8, src, sizeof(src));
		inet_ntop(AF_INET6, p + 24, dst, sizeof(dst));
		proto = p[6];
	}
	snprintf(out, n, "family=%s proto=%d src=%s dst=%s", fam, proto, src,
		 dst);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfa, void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	unsigned char *payload = NULL;
	char what[160];
	uint32_t id;
	int len;

	(void)msg;
	(void)data;
	if (!ph)
		return 0;
	id = ntohl(ph->packet_id);
	len = nfq_get_payload(nfa, &payload);
	describe(payload, len, what, sizeof(what));
	packets++;
	if (ph->hook < 8)
		by_hook[ph->hook]++;
	if (len > 0 && (unsigned long)len > max_len)
		max_len = len;
	printf("pkt id=%u hook=%u len=%d %s\n", id, ph->hook, len, what);

	if (mode == MODE_HOLD) {
		if (nheld < sizeof(held) / sizeof(held[0]))
			held[nheld++] = id;
		return 0;
	}
	return nfq_set_verdict(qh, id, mode == MODE_ACCEPT ? NF_ACCEPT : NF_DROP,
			       0, NULL);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nfr-qlistener --queue N [--verdict accept|drop|hold] "
		"[--gso] [--ready FILE] [--release FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "verdict", required_argument, NULL, 'v' },
		{ "gso", no_argument, NULL, 'g' },
		{ "ready", required_argument, NULL, 'r' },
		{ "release", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ready = NULL, *release = NULL;
	struct nfq_q_handle *qh;
	struct nfq_handle *h;
	char buf[256 * 1024];
	int queue = -1, gso = 0, fd, one = 1, c, i;
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			queue = atoi(optarg);
			break;
		case 'v':
			if (!strcmp(optarg, "accept"))
				mode = MODE_ACCEPT;
			else if (!strcmp(optarg, "drop"))
				mode = MODE_DROP;
			else if (!strcmp(optarg, "hold"))
				mode = MODE_HOLD;
			else
				usage();
			break;
		case 'g':
			gso = 1;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'R':
			release = optarg;
			break;
		default:
			usage();
		}
	}
	if (queue < 0 || queue > 65535)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	h = nfq_open();
	if (!h) {
		perror("nfq_open (is nfnetlink_queue available?)");
		return 1;
	}
	qh = nfq_create_queue(h, queue, on_packet, NULL);
	if (!qh) {
		fprintf(stderr, "cannot bind queue %d: %s (another listener?)\n",
			queue, strerror(errno));
		return 1;
	}
	if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) {
		perror("nfq_set_mode");
		return 1;
	}
	nfq_set_queue_maxlen(qh, 65536);
	if (gso && nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
		perror("nfq_set_queue_flags(GSO)");
		return 1;
	}
	fd = nfq_fd(h);
	nfnl_rcvbufsiz(nfq_nfnlh(h), 16 << 20);
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: recv() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		if (release && mode == MODE_HOLD && !access(release, F_OK)) {
			unsigned int j;

			for (j = 0; j < nheld; j++)
				nfq_set_verdict(qh, held[j], NF_ACCEPT, 0, NULL);
			printf("released %u\n", nheld);
			mode = MODE_ACCEPT;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("recv");
			break;
		}
		nfq_handle_packet(h, buf, n);
	}
	printf("summary packets=%lu max_len=%lu", packets, max_len);
	for (i = 0; i < 8; i++)
		printf(" hook%d=%lu", i, by_hook[i]);
	printf("\n");
	nfq_destroy_queue(qh);
	nfq_close(h);
	return 0;
}
