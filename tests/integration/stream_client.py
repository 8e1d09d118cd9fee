#!/usr/bin/env python3
"""A long-lived TCP client for enforcement tests: after the netprobe greeting it sends 1 KiB
every 20 ms and prints one JSON line per 100 ms with the time since the server last
acknowledged anything (TCP_INFO tcpi_last_ack_recv, ms), until --seconds pass."""
import argparse
import json
import socket
import struct
import time

TCPI_LAST_ACK_RECV_OFFSET = 56  # struct tcp_info: 8 bytes of u8 fields, then u32 fields


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    s = socket.create_connection((args.addr, args.port), timeout=3)
    s.recv(64)  # greeting
    s.setblocking(False)
    start = time.monotonic()
    next_report = start
    print(json.dumps({"connected": True}), flush=True)
    while time.monotonic() - start < args.seconds:
        try:
            s.send(b"x" * 1024)
        except BlockingIOError:
            pass
        now = time.monotonic()
        if now >= next_report:
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            last_ack_ms = struct.unpack_from("I", info, TCPI_LAST_ACK_RECV_OFFSET)[0]
            print(json.dumps({"t": now, "last_ack_ms": last_ack_ms}), flush=True)
            next_report = now + 0.1
        time.sleep(0.02)
    s.close()


if __name__ == "__main__":
    main()
