#!/usr/bin/env python3
"""Traffic endpoints for the integration tests and benches, run inside a namespace via nsenter.

  serve --tcp P[,P] --udp P[,P]        dual-stack servers; prints "ready" when bound
  tcp ADDR PORT [--send N] [--src A]   connect, read greeting, send N bytes, read count back
  udp ADDR PORT [--count N]            N datagrams from one socket, each must be echoed
  connect-loop ADDR PORT --count N     N sequential connects; prints connect times (ms)
Clients print one JSON object and exit 0 on success, 1 on failure.
"""
import argparse
import json
import socket
import sys
import threading
import time

GREETING = b"hello\n"


def _family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _tcp_session(conn):
    with conn:
        try:
            conn.sendall(GREETING)
            total = 0
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                total += len(chunk)
            conn.sendall(b"got %d\n" % total)
        except OSError:
            pass


def _tcp_server(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(256)

    def loop():
        while True:
            conn, _ = s.accept()
            threading.Thread(target=_tcp_session, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def _udp_server(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))

    def loop():
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)

    threading.Thread(target=loop, daemon=True).start()


def _ports(text):
    return [int(p) for p in text.split(",") if p] if text else []


def serve(args):
    for p in _ports(args.tcp):
        _tcp_server(p)
    for p in _ports(args.udp):
        _udp_server(p)
    print("ready", flush=True)
    try:
        sys.stdin.read() if args.until_stdin_eof else threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


def _emit(ok, **fields):
    print(json.dumps(dict(ok=ok, **fields)), flush=True)
    return 0 if ok else 1


def tcp(args):
    t0 = time.monotonic()
    try:
        s = socket.create_connection((args.addr, args.port), timeout=args.timeout,
                                     source_address=(args.src, 0) if args.src else None)
    except OSError as e:
        return _emit(False, stage="connect", error=str(e) or type(e).__name__,
                     elapsed_ms=(time.monotonic() - t0) * 1e3)
    connect_ms = (time.monotonic() - t0) * 1e3
    with s:
        try:
            greeting = b""
            while not greeting.endswith(b"\n"):
                chunk = s.recv(64)
                if not chunk:
                    break
                greeting += chunk
            if greeting != GREETING:
                return _emit(False, stage="greeting", error=repr(greeting), connect_ms=connect_ms)
            block = b"x" * 65536
            left = args.send
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                reply += chunk
        except OSError as e:
            return _emit(False, stage="transfer", error=str(e) or type(e).__name__,
                         connect_ms=connect_ms)
    ok = reply == b"got %d\n" % args.send
    return _emit(ok, connect_ms=connect_ms, sent=args.send, reply=reply.decode(errors="replace"),
                 total_ms=(time.monotonic() - t0) * 1e3)


def udp(args):
    with socket.socket(_family(args.addr), socket.SOCK_DGRAM) as s:
        s.settimeout(args.timeout)
        got = 0
        for i in range(args.count):
            payload = b"probe %d" % i
            s.sendto(payload, (args.addr, args.port))
            try:
                data, _ = s.recvfrom(65535)
            except OSError as e:
                return _emit(False, echoed=got, error=str(e) or type(e).__name__)
            if data == payload:
                got += 1
        return _emit(got == args.count, echoed=got)


def connect_loop(args):
    times = []
    failures = 0
    for _ in range(args.count):
        t0 = time.perf_counter()
        try:
            s = socket.create_connection((args.addr, args.port), timeout=args.timeout)
        except OSError:
            failures += 1
            continue
        times.append((time.perf_counter() - t0) * 1e3)
        s.close()
        if args.gap_ms:
            time.sleep(args.gap_ms / 1e3)
    return _emit(failures == 0, connect_ms=times, failures=failures)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--tcp", default="")
    p.add_argument("--udp", default="")
    p.add_argument("--until-stdin-eof", action="store_true")
    p.set_defaults(fn=serve)
    p = sub.add_parser("tcp")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--src", help="source address to bind")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(fn=tcp)
    p = sub.add_parser("udp")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1.0)
    p.set_defaults(fn=udp)
    p = sub.add_parser("connect-loop")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--gap-ms", type=float, default=0)
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(fn=connect_loop)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
