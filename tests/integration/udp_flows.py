#!/usr/bin/env python3
"""udp_flows.py SRC DST PORT FIRST_SPORT COUNT: one datagram per source port FIRST_SPORT..
+COUNT-1 to DST:PORT (a netprobe echo server); prints {"sent": N, "echoed": M} as JSON."""
import json
import select
import socket
import sys
import time

BATCH = 100  # sockets open at once; small bursts so the echo server keeps up


def main():
    src, dst, port, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        int(sys.argv[5])
    sent = echoed = 0
    for base in range(first, first + count, BATCH):
        socks = []
        for sport in range(base, min(base + BATCH, first + count)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src, sport))
            s.setblocking(False)
            s.sendto(b"nfr-restart", (dst, port))
            sent += 1
            socks.append(s)
        waiting = set(socks)
        deadline = time.monotonic() + 1.0
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
            for s in ready:
                try:
                    s.recv(2048)
                    echoed += 1
                except BlockingIOError:
                    continue
                waiting.discard(s)
        for s in socks:
            s.close()
    print(json.dumps({"sent": sent, "echoed": echoed}))


if __name__ == "__main__":
    main()
