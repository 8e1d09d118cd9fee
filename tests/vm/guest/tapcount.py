#!/usr/bin/python3
"""Packet tap for the VM tests: counts ICMP/ICMPv6 echo requests seen by a
packet socket on IFACE in direction in|out until SIGTERM, then prints the
count.  Usage: tapcount.py IFACE in|out READY_FILE"""
import signal
import socket
import struct
import sys

ifname, direction, ready = sys.argv[1], sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind((ifname, 0))
sock.settimeout(0.2)
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
open(ready, "w").close()
count = 0
while not stop:
    try:
        data, addr = sock.recvfrom(65535)
    except (socket.timeout, InterruptedError):
        continue
    outgoing = addr[2] == socket.PACKET_OUTGOING
    if outgoing != (direction == "out") or len(data) < 55:
        continue
    ethertype = struct.unpack("!H", data[12:14])[0]
    if ethertype == 0x0800 and data[23] == 1:
        if data[14 + (data[14] & 15) * 4] == 8:
            count += 1
    elif ethertype == 0x86DD and data[20] == 58 and data[54] == 128:
        count += 1
print(count)
