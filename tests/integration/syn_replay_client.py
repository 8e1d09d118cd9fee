#!/usr/bin/env python3
"""A TCP client for the ONCE race test that can replay its own SYN: it captures the SYN frame
it sends (AF_PACKET on DEV) and sends the very same frame again on request, as a retransmission
would. Commands on stdin, one JSON line each on stdout:
  connect  start a non-blocking connect to ADDR PORT   -> {"sport": N}
  dup      send the captured SYN frame again           -> {"dup": true}
  finish   wait for the connection, read the greeting, send 1000 bytes, read the count back
           -> {"ok": true, "ms": T} or {"ok": false, "stage": S, "error": E}
"""
import argparse
import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003  # a tap: outgoing frames too (an ETH_P_IP socket sees only incoming ones)
ETH_P_IP = 0x0800
DATA = b"x" * 1000


def say(**fields):
    print(json.dumps(fields), flush=True)


def is_syn_from(frame, sport, dport):
    if len(frame) < 14 + 20 + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return False
    ihl = (frame[14] & 0x0F) * 4
    if frame[14 + 9] != socket.IPPROTO_TCP:
        return False
    tcp = 14 + ihl
    sp, dp = struct.unpack_from("!HH", frame, tcp)
    flags = frame[tcp + 13]
    return sp == sport and dp == dport and flags & 0x02 and not flags & 0x10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dev")
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    args = ap.parse_args()
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((args.dev, 0))
    conn, syn = None, None
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "connect":
            if conn is not None:
                conn.close()
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            conn.setblocking(False)
            conn.connect_ex((args.addr, args.port))
            sport = conn.getsockname()[1]
            syn = None
            deadline = time.monotonic() + 5
            while syn is None and time.monotonic() < deadline:
                if not select.select([raw], [], [], 0.5)[0]:
                    continue
                frame, addr = raw.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING and is_syn_from(frame, sport, args.port):
                    syn = frame
            if syn is None:
                say(error="SYN not captured")
            else:
                say(sport=sport)
        elif cmd == "dup":
            raw.send(syn)
            say(dup=True)
        elif cmd == "finish":
            t0 = time.monotonic()
            stage = "connect"
            try:
                if not select.select([], [conn], [], 5)[1]:
                    raise TimeoutError("not connected in 5 s")
                err = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect failed")
                conn.setblocking(True)
                conn.settimeout(3)
                stage = "greeting"
                greeting = b""
                while not greeting.endswith(b"\n"):
                    chunk = conn.recv(64)
                    if not chunk:
                        raise ConnectionError("closed")
                    greeting += chunk
                stage = "data"
                conn.sendall(DATA)
                conn.shutdown(socket.SHUT_WR)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                if reply != b"got %d\n" % len(DATA):
                    raise ConnectionError(f"reply {reply!r}")
                say(ok=True, ms=round((time.monotonic() - t0) * 1000, 1))
            except (OSError, TimeoutError, ConnectionError) as e:
                say(ok=False, stage=stage, error=str(e))
            conn.close()
            conn = None
        else:
            say(error=f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
