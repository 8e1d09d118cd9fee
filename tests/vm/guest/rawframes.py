#!/usr/bin/python3
"""Send hand-made Ethernet frames out of IFACE with AF_PACKET: IPv4/IPv6 UDP
frames with link-layer padding (valid) and with broken IP headers.  The
source address says which case a frame is:
  10.77.0.101  valid, 30 bytes of padding after tot_len    (IP length 32)
  10.77.0.102  ihl 4                                       (malformed)
  10.77.0.103  tot_len beyond the frame                    (malformed)
  10.77.0.104  bad header checksum                         (malformed)
  fd77::101    valid, 30 bytes of padding after payload    (IP length 52)
  fd77::102    payload_len beyond the frame                (malformed)
usage: rawframes.py IFACE DST_MAC SRC_MAC"""
import socket
import struct
import sys


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4(src, ihl=5, tot_extra=0, bad_csum=False):
    udp = struct.pack("!HHHH", 4000, 4001, 12, 0) + b"kr01"
    tot = 20 + len(udp) + tot_extra
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 1, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton("10.77.1.2"))
    c = csum(hdr)
    if bad_csum:
        c ^= 0x5555
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return 0x0800, hdr + udp


def ipv6(src, len_extra=0):
    udp = struct.pack("!HHHH", 4000, 4001, 12, 0) + b"kr01"
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(udp) + len_extra, 17, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, "fd77:1::2"))
    return 0x86DD, hdr + udp


def mac(m):
    return bytes(int(x, 16) for x in m.split(":"))


iface, dst, src = sys.argv[1:4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
pad = b"\0" * 30
frames = [
    ipv4("10.77.0.101") + (pad,),
    ipv4("10.77.0.102", ihl=4) + (b"",),
    ipv4("10.77.0.103", tot_extra=100) + (b"",),
    ipv4("10.77.0.104", bad_csum=True) + (b"",),
    ipv6("fd77::101") + (pad,),
    ipv6("fd77::102", len_extra=100) + (b"",),
]
for proto, pkt, tail in frames:
    try:
        s.sendto(mac(dst) + mac(src) + struct.pack("!H", proto) + pkt + tail,
                 (iface, proto))
    except OSError as e:  # ENOBUFS: dropped at tc egress, as it should be
        print(f"frame {frames.index((proto, pkt, tail))}: {e}")
