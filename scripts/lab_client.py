#!/usr/bin/env python3
"""Lab client: one TCP connect+greeting, UDP echo or ping; exit 0 on success."""
import argparse
import socket
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--tcp", nargs=2, metavar=("ADDR", "PORT"))
    g.add_argument("--udp", nargs=2, metavar=("ADDR", "PORT"))
    g.add_argument("--ping", metavar="ADDR")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--send", type=int, default=0, help="TCP: bytes to send and read back")
    args = ap.parse_args()
    try:
        if args.tcp:
            addr, port = args.tcp[0], int(args.tcp[1])
            with socket.create_connection((addr, port), timeout=args.timeout) as s:
                if not s.recv(19).startswith(b"hello"):
                    return 1
                left = args.send
                while left > 0:
                    chunk = b"x" * min(left, 65536)
                    s.sendall(chunk)
                    got = 0
                    while got < len(chunk):
                        data = s.recv(len(chunk) - got)
                        if not data:
                            return 1
                        got += len(data)
                    left -= len(chunk)
                return 0
        if args.udp:
            addr, port = args.udp[0], int(args.udp[1])
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.settimeout(args.timeout)
                s.sendto(b"ping", (addr, port))
                return 0 if s.recvfrom(64)[0] == b"ping" else 1
        cmd = ["ping", "-c1", "-W", str(int(args.timeout)), args.ping]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
