#!/usr/bin/python3
"""Dump the netfilter hooks of one family and hook number through
nfnetlink_hook (what `nft list hooks` asks the kernel for), one line per hook:
  hook=N prio=P func=NAME module=MOD
usage: nfhooks.py ipv4|ipv6 HOOKNUM; exit 1 with the kernel's error."""
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_HOOK = 12
NFNL_MSG_HOOK_GET = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
ATTR = {1: "hook", 2: "prio", 4: "func", 5: "module"}
FAMILY = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def attrs(buf):
    out = {}
    while len(buf) >= 4:
        alen, atype = struct.unpack_from("=HH", buf)
        if alen < 4:
            break
        data = buf[4:alen]
        name = ATTR.get(atype & 0x3FFF)
        if name in ("hook", "prio"):
            out[name] = struct.unpack(">i", data[:4])[0]
        elif name:
            out[name] = data.rstrip(b"\0").decode()
        buf = buf[(alen + 3) & ~3:]
    return out


def main():
    family, hooknum = FAMILY[sys.argv[1]], int(sys.argv[2])
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    attr = struct.pack("=HHI", 8, 1, socket.htonl(hooknum))
    body = struct.pack("=BBH", family, 0, 0) + attr
    hdr = struct.pack("=IHHII", 16 + len(body),
                      NFNL_SUBSYS_HOOK << 8 | NFNL_MSG_HOOK_GET,
                      NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    s.send(hdr + body)
    while True:
        data = s.recv(65536)
        while len(data) >= 16:
            mlen, mtype = struct.unpack_from("=IH", data)
            msg = data[16:mlen]
            if mtype == NLMSG_DONE:
                return 0
            if mtype == NLMSG_ERROR:
                err = -struct.unpack_from("=i", msg)[0]
                if err:
                    print(f"error: {os.strerror(err)}")
                    return 1
            else:
                a = attrs(msg[4:])
                print(" ".join(f"{k}={a.get(k, '-')}" for k in ("hook", "prio", "func", "module")))
            data = data[(mlen + 3) & ~3:]


sys.exit(main())
