#!/usr/bin/env python3
"""Lab servers: TCP listeners that greet and echo, UDP echo. Runs until killed."""
import argparse
import socket
import socketserver
import threading


class TcpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"hello from nfr lab\n")
        while data := self.request.recv(65536):
            self.request.sendall(data)


class UdpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class Tcp6Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Udp6Server(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def ports(text):
    return [int(p) for p in text.split(",") if p]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tcp", type=ports, default=[], help="comma-separated TCP ports")
    ap.add_argument("--udp", type=ports, default=[], help="comma-separated UDP ports")
    args = ap.parse_args()
    servers = [Tcp6Server(("::", p), TcpEcho) for p in args.tcp]
    servers += [Udp6Server(("::", p), UdpEcho) for p in args.udp]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
