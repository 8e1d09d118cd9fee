#!/usr/bin/env python3
"""New UDP flows as fast as one process can send them, and a counting sink (no echo).

  udp_spray.py send SRC DST PORT SECONDS   one datagram per fresh source port (20000..59999,
                                           cycling) until SECONDS or SIGTERM; prints {"sent": N}
  udp_spray.py count PORT                  prints "ready", counts datagrams until stdin EOF,
                                           then prints {"received": N}
"""
import json
import select
import signal
import socket
import sys
import time


def send(src, dst, port, seconds):
    """Until SECONDS pass or SIGTERM."""
    sent, sport = 0, 20000
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((src, sport))
                s.sendto(b"nfr-spray", (dst, port))
                sent += 1
            except OSError:
                pass
            s.close()
            sport = 20000 if sport >= 59999 else sport + 1
    finally:
        print(json.dumps({"sent": sent}), flush=True)


def count(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    received = 0
    while True:
        ready, _, _ = select.select([s, sys.stdin], [], [])
        if s in ready:
            s.recv(2048)
            received += 1
        if sys.stdin in ready and not sys.stdin.readline():
            break
    print(json.dumps({"received": received}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        count(int(sys.argv[2]))
