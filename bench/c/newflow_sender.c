/* UDP flood where every packet is a new 5-tuple: raw IPv4 (IP_HDRINCL), sendmmsg batches,
 * paced to a target rate. Sources rotate over NSRC addresses from SRC_BASE (the kernel's NFQUEUE
 * fanout hashes addresses, not ports), source ports over 1024..65023, starting at tuple OFFSET.
 * usage: newflow_sender SRC_BASE NSRC DST DPORT PPS SECONDS OFFSET
 * prints {"sent": N, "seconds": S} */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 32
#define PAYLOAD 32
#define NPORTS 64000

struct pkt {
	struct iphdr ip;
	struct udphdr udp;
	char payload[PAYLOAD];
} __attribute__((packed));

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct pkt pkts[BATCH];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	uint32_t src_base, nsrc;
	uint64_t k, sent = 0, total;
	double pps, seconds, t0;
	int fd, i;

	if (argc != 8) {
		fprintf(stderr, "usage: %s SRC_BASE NSRC DST DPORT PPS SECONDS OFFSET\n", argv[0]);
		return 2;
	}
	src_base = ntohl(inet_addr(argv[1]));
	nsrc = strtoul(argv[2], NULL, 0);
	dst.sin_addr.s_addr = inet_addr(argv[3]);
	pps = atof(argv[5]);
	seconds = atof(argv[6]);
	k = strtoull(argv[7], NULL, 0);
	total = (uint64_t)(pps * seconds);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 || nsrc == 0) {
		perror("raw socket (needs root; NSRC > 0)");
		return 1;
	}
	memset(pkts, 0, sizeof(pkts));
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		pkts[i].ip.version = 4;
		pkts[i].ip.ihl = 5;
		pkts[i].ip.ttl = 64;
		pkts[i].ip.protocol = IPPROTO_UDP;
		pkts[i].ip.tot_len = htons(sizeof(struct pkt));
		pkts[i].ip.daddr = dst.sin_addr.s_addr;
		pkts[i].udp.dest = htons(atoi(argv[4]));
		pkts[i].udp.len = htons(sizeof(struct udphdr) + PAYLOAD);
		iov[i].iov_base = &pkts[i];
		iov[i].iov_len = sizeof(struct pkt);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
	}
	t0 = now();
	while (sent < total) {
		double due = t0 + sent / pps, t = now();

		if (t < due) {
			struct timespec ts = { 0, (long)((due - t) * 1e9) };

			nanosleep(&ts, NULL);
		}
		for (i = 0; i < BATCH; i++, k++) {
			pkts[i].ip.saddr = htonl(src_base + k % nsrc);
			pkts[i].udp.source = htons(1024 + (k / nsrc) % NPORTS);
		}
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += n;
		else
			k -= BATCH;
	}
	printf("{\"sent\": %llu, \"seconds\": %.3f}\n", (unsigned long long)sent, now() - t0);
	return 0;
}
