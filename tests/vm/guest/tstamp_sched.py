#!/usr/bin/python3
"""Send one UDP datagram with SO_TIMESTAMPING TX_SCHED and print how many
SCM_TSTAMP_SCHED reports the error queue returns for it.
usage: tstamp_sched.py DEST PORT"""
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPING = 37
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_TX_SCHED = 1 << 8
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SO_EE_ORIGIN_TIMESTAMPING = 4
SCM_TSTAMP_SCHED = 1
IP_RECVERR = 11

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING,
             SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
             SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_OPT_TSONLY)
s.sendto(b"tstamp", (sys.argv[1], int(sys.argv[2])))
sched = 0
deadline = time.time() + 3
while time.time() < deadline:
    select.select([], [], [s], 0.2)
    try:
        _, anc, _, _ = s.recvmsg(64, 1024, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except BlockingIOError:
        continue
    for level, ctype, data in anc:
        if level == socket.IPPROTO_IP and ctype == IP_RECVERR and len(data) >= 16:
            _, origin, _, _, _, info, _ = struct.unpack_from("=IBBBBII", data)
            if origin == SO_EE_ORIGIN_TIMESTAMPING and info == SCM_TSTAMP_SCHED:
                sched += 1
print(sched)
