#!/usr/bin/env python3
"""Overload never opens the door: a flood of new UDP flows at many times a tiny queue's capacity,
under a default-drop policy, reaches the server with not one packet, while the agent answers and
a well-behaved client still connects. Compat mode: accepted packets leave the router without the
compat mark bit."""
import json
import subprocess
import time

import harness
from harness import CLI4, SRV4, LabTestCase, rule

FLOOD_PORT = 7
# Raw IPv4/UDP packets, each from a new source port (a new 5-tuple), as fast as Python sends.
FLOOD = r"""
import socket, struct, sys
src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
ip = lambda l: struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l, 0, 0, 64, 17, 0,
                           socket.inet_aton(src), socket.inet_aton(dst))
for i in range(count):
    sport = 1024 + i % 64000
    udp = struct.pack("!HHHH", sport, port, 8 + 32, 0) + bytes(32)
    s.sendto(ip(len(udp)) + udp, (dst, 0))
"""


class QueueOverloadTest(LabTestCase):

    def setUp(self):
        super().setUp()
        script = (f"table ip qsflood {{\n chain pre {{ type filter hook prerouting priority raw; "
                  f"udp dport {FLOOD_PORT} counter drop; }}\n}}\n")
        p = subprocess.run(self.lab.nsenter(self.lab.srv) + ["nft", "-f", "-"], input=script,
                           text=True, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.addCleanup(lambda: self.lab.run(self.lab.srv, ["nft", "delete", "table", "ip",
                                                            "qsflood"]))

    def reached_server(self):
        r = self.lab.run(self.lab.srv, ["nft", "-j", "list", "chain", "ip", "qsflood", "pre"],
                         check=True)
        for item in json.loads(r.stdout)["nftables"]:
            for e in item.get("rule", {}).get("expr", []):
                if "counter" in e:
                    return e["counter"]["packets"]
        self.fail("server counter missing")

    def flood(self, count):
        return self.lab.popen(self.lab.cli, [harness.PYTHON, "-c", FLOOD, CLI4, SRV4,
                                             str(FLOOD_PORT), str(count)])

    def kernel_queue_row(self, num):
        rows = self.lab.run(self.lab.rtr, ["cat", "/proc/net/netfilter/nfnetlink_queue"]).stdout
        for line in rows.splitlines():
            f = line.split()
            if f and int(f[0]) == num:
                return {"waiting": int(f[2]), "queue_dropped": int(f[5]),
                        "user_dropped": int(f[6]), "id_sequence": int(f[7])}
        return None

    def test_flood_under_default_drop_passes_nothing(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)], default="drop",
                       queue={"num": 4820, "maxLen": 4}).start()
        p = self.flood(30000)
        ctl = harness.ctl_binary()
        answered = []
        while p.poll() is None:
            if ctl:
                t = time.monotonic()
                r = subprocess.run([ctl, "--target", f"unix://{a.socket}", "status"],
                                   capture_output=True, text=True, timeout=10)
                answered.append((r.returncode, time.monotonic() - t))
            time.sleep(0.2)
        self.assertEqual(p.wait(), 0)
        time.sleep(0.5)
        self.assertEqual(self.reached_server(), 0, "flood packets passed a default-drop policy")
        row = self.kernel_queue_row(4820)
        self.assertIsNotNone(row, "queue 4820 not bound")
        self.assertGreater(row["queue_dropped"] + row["user_dropped"], 0,
                           f"the flood never overflowed the queue, the test proves nothing: {row}")
        for rc, secs in answered:
            self.assertEqual(rc, 0, "nfrctl status failed during the flood")
            self.assertLess(secs, 1.0 * harness.TIME_SCALE,
                            f"nfrctl status took {secs:.2f}s during the flood")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "well-behaved TCP client after the flood")
        self.assertTrue(a.running())

    def test_flood_with_overflow_accept_override_passes_some(self):
        # The documented override: queue.overflow QUEUE_OVERFLOW_ACCEPT fails open on overflow
        # even under a default-drop policy (proves the flood above really overflowed).
        a = self.agent([], default="drop",
                       queue={"num": 4821, "maxLen": 4,
                              "overflow": "QUEUE_OVERFLOW_ACCEPT"}).start()
        self.assertEqual(self.flood(30000).wait(), 0)
        time.sleep(0.5)
        self.assertGreater(self.reached_server(), 0, "fail-open override let nothing pass")
        self.assertTrue(a.running())

    def test_accepted_packets_leave_without_the_compat_mark(self):
        a = self.agent([rule("dns", "accept", "udp", 5301)], default="drop",
                       queue={"num": 4822}).start()
        if a.mode() != "compat":
            self.skipTest("native mode sets no mark")
        mark = "0x01000000/0x01000000"
        for chain in ("FORWARD", "POSTROUTING"):
            self.lab.run(self.lab.rtr, ["iptables", "-w", "5", "-t", "mangle", "-A", chain, "-p",
                                        "udp", "--dport", "5301", "-m", "mark", "--mark", mark],
                         check=True)
            self.lab.run(self.lab.rtr, ["iptables", "-w", "5", "-t", "mangle", "-A", chain, "-p",
                                        "udp", "--dport", "5301"], check=True)
        try:
            for _ in range(3):  # three flows, each decided by the agent once
                res = self.lab.udp(SRV4, 5301, count=2)
                self.assertTrue(res.get("ok"), f"UDP 5301: {res}")
            for chain in ("FORWARD", "POSTROUTING"):
                out = self.lab.run(self.lab.rtr, ["iptables", "-w", "5", "-t", "mangle", "-L", chain,
                                                  "-n", "-v", "-x"], check=True).stdout
                counts = [int(l.split()[0]) for l in out.splitlines()
                          if l.strip() and l.split()[0].isdigit()]
                self.assertEqual(len(counts), 2, out)
                self.assertGreater(counts[1], 0, f"{chain}: no UDP 5301 counted: {out}")
                self.assertEqual(counts[0], 0, f"{chain}: packets still carry the mark: {out}")
        finally:
            for chain in ("FORWARD", "POSTROUTING"):
                self.lab.run(self.lab.rtr, ["iptables", "-w", "5", "-t", "mangle", "-F", chain])


if __name__ == "__main__":
    harness.main()
