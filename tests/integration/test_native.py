#!/usr/bin/env python3
"""Native mode only (patched kernel, e.g. in the VM): egress held/accepted/dropped, egress UDP,
IPv6 both directions, the mode in log and status, GSO-sized payloads intact, SIGKILL bypass.
Skipped (exit 77) where /proc/sys/net/core/tc_nf_redirect is missing."""
import json
import signal
import textwrap

import harness
from harness import (PYTHON, NETPROBE, SRV4, SRV6, Ctl, LabTestCase, delta, rule)

EGRESS_IFACES = [{"name": "r-cli"}, {"name": "r-srv", "egress": True}]
SINK_PORT = 8100

# Receives one TCP connection's bytes and answers with their SHA-256 (dual-stack).
SINK = textwrap.dedent("""
    import hashlib, socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(sys.argv[1]))); s.listen(16)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        h, n = hashlib.sha256(), 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            h.update(b); n += len(b)
        c.sendall(("%d %s\\n" % (n, h.hexdigest())).encode()); c.close()
""")

# Sends N pseudo-random bytes in large writes (GSO-sized skbs), prints local and remote digests.
SOURCE = textwrap.dedent("""
    import hashlib, json, random, socket, sys
    addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = random.Random(n).randbytes(n)
    s = socket.create_connection((addr, port), timeout=20)
    for i in range(0, n, 1 << 18):
        s.sendall(data[i:i + (1 << 18)])
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\\n"):
        b = s.recv(256)
        if not b:
            break
        reply += b
    print(json.dumps({"sent": n, "sha": hashlib.sha256(data).hexdigest(),
                      "reply": reply.decode().strip()}))
""")


# One UDP_SEGMENT sendmsg: the flow's first packet is a GSO skb of N segments at tc egress.
UDP_GSO = textwrap.dedent("""
    import json, socket, sys
    addr, port, seg, nseg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(17, 103, seg)  # SOL_UDP, UDP_SEGMENT
    s.settimeout(3)
    s.sendto(bytes(range(256)) * (seg * nseg // 256) + bytes(seg * nseg % 256), (addr, port))
    got = []
    try:
        while len(got) < nseg:
            got.append(len(s.recv(65535)))
    except OSError:
        pass
    print(json.dumps({"echoes": len(got), "bytes": sum(got)}))
""")


def find_key(v, key):
    if isinstance(v, dict):
        if key in v:
            return v[key]
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            r = find_key(x, key)
            if r is not None:
                return r
    return None


class NativeTest(LabTestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_native()
        super().setUpClass()
        cls.sink = cls.lab.popen(cls.lab.srv, [PYTHON, "-c", SINK, str(SINK_PORT)],
                                 stdout=harness.subprocess.PIPE, text=True)
        if cls.sink.stdout.readline().strip() != "ready":
            raise RuntimeError("sha sink did not start")

    def native_agent(self, rules=(), default="drop", **cfg):
        cfg.setdefault("interfaces", EGRESS_IFACES)
        cfg["mode"] = "MODE_NATIVE"
        return self.agent(rules, default, **cfg)

    # Locally originated traffic: a client in the router namespace.
    def rtr_probe(self, argv, timeout):
        r = self.lab.run(self.lab.rtr, [PYTHON, str(NETPROBE)] + argv, timeout=timeout + 10)
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"ok": False, "error": f"netprobe output {r.stdout!r} {r.stderr!r}"}

    def rtr_tcp(self, addr, port, send=0, timeout=3.0):
        return self.rtr_probe(["tcp", addr, str(port), "--send", str(send),
                               "--timeout", str(timeout)], timeout)

    def rtr_udp(self, addr, port, count=1, timeout=1.0):
        return self.rtr_probe(["udp", addr, str(port), "--count", str(count),
                               "--timeout", str(timeout)], timeout * count)

    def transfer(self, ns, addr, n):
        r = self.lab.run(ns, [PYTHON, "-c", SOURCE, addr, str(SINK_PORT), str(n)], timeout=90)
        self.assertEqual(r.returncode, 0, f"transfer from {ns}: {r.stderr}\n{self.agent_logs()}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(out["reply"], f"{n} {out['sha']}", f"payload from {ns} arrived intact")

    def test_mode_native_in_log_and_status(self):
        a = self.native_agent().start()
        self.assertEqual(a.mode(), "native", a.log())
        start = a.wait_log(r"nfr-agent: mode=native.*").group(0)
        self.assertIn("r-srv:egress", start, "start line lists the egress attachment")
        self.assertEqual(self.lab.compat_rules(), [], "native mode installs no queue rule")
        self.assertEqual(len(self.lab.tc_filters("r-srv", "egress")), 1, "r-srv egress attached")
        self.assertEqual(harness.module_params()["queue_ingress"], str(a.queue_num))
        if harness.ctl_binary():
            status = Ctl(a).ok("status")
            self.assertEqual(find_key(status, "mode"), "native", status)
            self.assertIn("r-srv:egress", json.dumps(status))

    def test_egress_tcp_held_then_accepted_requeued(self):
        a = self.native_agent([rule("ask", "ask", "tcp", 8001)], default="accept",
                              policy={"pendingTimeoutMs": 800}).start()
        before = a.stats()
        res = self.rtr_tcp(SRV4, 8001, send=1 << 20, timeout=5)
        self.assertConnects(res, "egress SYN held, then accepted by the default")
        self.assertGreaterEqual(res["connect_ms"], 600, f"SYN was held in the queue: {res}")
        a.wait_log(r"decision accept tcp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:8001 dev r-srv egress")
        d = delta(a.stats(), before)
        self.assertEqual(d["TO_NATIVE"], 1, f"egress SYN redirected once: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], 10, f"the rest stayed in the kernel: {d}")

    def test_egress_tcp_accept_and_drop(self):
        a = self.native_agent([rule("web", "accept", "tcp", 8001),
                               rule("block", "drop", "tcp", 8002)]).start()
        before = a.stats()
        self.assertConnects(self.rtr_tcp(SRV4, 8001, send=1 << 20), "egress TCP 8001 (accept)")
        self.assertFails(self.rtr_tcp(SRV4, 8002, timeout=2.5), "egress TCP 8002 (drop)")
        self.assertFails(self.rtr_tcp(SRV4, 8003, timeout=1.5), "egress TCP 8003 (default)")
        a.wait_log(r"decision accept tcp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:8001 dev r-srv egress")
        a.wait_log(r"decision drop tcp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:8002 dev r-srv egress")
        d = delta(a.stats(), before)
        self.assertEqual(d["TO_NATIVE"], 3, f"one SYN per connection went up: {d}")
        self.assertGreaterEqual(d["CACHE_DENY"], 1, f"retransmitted SYN dropped in kernel: {d}")
        # Forwarded traffic still decided at r-cli ingress, and its cached flow passes r-srv.
        self.assertConnects(self.lab.tcp(SRV4, 8001), "forwarded TCP 8001")
        a.wait_log(r"decision accept tcp 10\.77\.0\.2:\d+ -> 10\.77\.1\.2:8001 dev r-cli ingress")

    def test_egress_held_connection_decided_by_nfrctl(self):
        if not harness.ctl_binary():
            self.skipTest("NFR_CTL is not an executable nfrctl")
        a = self.native_agent([rule("ask", "ask", "tcp", 8004)], default="drop",
                              policy={"pendingTimeoutMs": 8000}).start()
        ctl = Ctl(a)
        w = ctl.watch()
        self.addCleanup(w.stop)
        w.wait_for(lambda ev: "snapshot_done" in ev, what="snapshot_done")
        for verdict in ("accept", "drop"):
            with self.subTest(verdict=verdict):
                client = self.lab.popen(self.lab.rtr, [PYTHON, str(NETPROBE), "tcp", SRV4, "8004",
                                                       "--send", str(1 << 20), "--timeout", "6"],
                                        stdout=harness.subprocess.PIPE,
                                        stderr=harness.subprocess.PIPE, text=True)
                ev = w.wait_for(lambda e: "added" in e and
                                e["added"]["flow"].get("src_addr") == harness.RTR_SRV4,
                                what="pending egress TCP :8004")["added"]
                self.assertIn("EGRESS", json.dumps(ev), f"pending flow is egress: {ev}")
                ctl.ok("decide", str(ev["id"]), verdict)
                res = self.lab.result(client)
                if verdict == "accept":
                    self.assertConnects(res, "held egress SYN accepted by nfrctl: requeued")
                    self.assertLess(res["connect_ms"], 5000, f"decided, not timed out: {res}")
                else:
                    self.assertFails(res, "held egress SYN dropped by nfrctl")

    def test_egress_udp(self):
        # r-srv is inspected on ingress too; the accepted flow's reply entry (reverse 5-tuple)
        # passes its answers there (docs/flows.md).
        a = self.native_agent([rule("dns", "accept", "udp", 5301),
                               rule("noudp", "drop", "udp", 5302)], default="accept").start()
        before = a.stats()
        self.assertConnects(self.rtr_udp(SRV4, 5301, count=5), "egress UDP 5301 (accept)")
        self.assertFails(self.rtr_udp(SRV4, 5302, timeout=1.0), "egress UDP 5302 (drop)")
        a.wait_log(r"decision accept udp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:5301 dev r-srv egress")
        a.wait_log(r"decision drop udp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:5302 dev r-srv egress")
        d = delta(a.stats(), before)
        self.assertGreaterEqual(d["CACHE_ALLOW"], 4, f"later datagrams cached: {d}")

    def test_ipv6_ingress_and_egress(self):
        a = self.native_agent([rule("web6", "accept", "tcp", 8006, dst="fd77:1::/64"),
                               rule("no6", "drop", "tcp", 8005)]).start()
        before = a.stats()
        self.assertConnects(self.lab.tcp(SRV6, 8006, send=1 << 20, timeout=10), "ingress TCP6")
        self.assertConnects(self.rtr_tcp(SRV6, 8006, send=1 << 20, timeout=10), "egress TCP6")
        self.assertFails(self.rtr_tcp(SRV6, 8005, timeout=2.5), "egress TCP6 8005 (drop)")
        self.assertFails(self.lab.tcp(SRV6, 8005, timeout=1.5), "ingress TCP6 8005 (drop)")
        a.wait_log(r"decision accept tcp \[?fd77::2\]?[:.]\d+ -> \[?fd77:1::2\]?[:.]8006 dev r-cli "
                   r"ingress")
        a.wait_log(r"decision accept tcp \[?fd77:1::1\]?[:.]\d+ -> \[?fd77:1::2\]?[:.]8006 dev "
                   r"r-srv egress")
        a.wait_log(r"decision drop tcp \[?fd77:1::1\]?[:.]\d+ -> \[?fd77:1::2\]?[:.]8005 dev "
                   r"r-srv egress")
        d = delta(a.stats(), before)
        self.assertEqual(d["TO_NATIVE"], 4, f"one SYN per connection: {d}")

    def test_gso_sized_transfers_arrive_intact(self):
        a = self.native_agent([rule("sink", "accept", "tcp", SINK_PORT)]).start()
        before = a.stats()
        n = 8 << 20
        for ns, addr in ((self.lab.cli, SRV4), (self.lab.rtr, SRV4), (self.lab.cli, SRV6),
                         (self.lab.rtr, SRV6)):
            with self.subTest(ns=ns, addr=addr):
                self.transfer(ns, addr, n)
        d = delta(a.stats(), before)
        self.assertEqual(d["TO_NATIVE"], 4, f"one SYN per transfer went up: {d}")

    def test_udp_gso_first_packet_through_egress_queue(self):
        # The first packet of the flow goes up while it is still a GSO skb: the kernel
        # segments it for the queue, every segment is accepted and requeued with its L2 header.
        a = self.native_agent([rule("gso", "accept", "udp", 5302)], default="accept").start()
        seg, nseg = 1000, 16
        for addr in (SRV4, SRV6):
            with self.subTest(addr=addr):
                before = a.stats()
                r = self.lab.run(self.lab.rtr, [PYTHON, "-c", UDP_GSO, addr, "5302", str(seg),
                                                str(nseg)], timeout=30)
                out = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else r
                self.assertEqual(out, {"echoes": nseg, "bytes": seg * nseg},
                                 f"every segment echoed ({r.stderr})\n{self.agent_logs()}")
                d = delta(a.stats(), before)
                self.assertGreaterEqual(d["TO_NATIVE"], 1, f"GSO packet went up: {d}")
        a.wait_log(r"decision accept udp 10\.77\.1\.1:\d+ -> 10\.77\.1\.2:5302 dev r-srv egress")

    def test_sigkill_queue_bypass_both_directions(self):
        a = self.native_agent([rule("web", "accept", "tcp", 8001)]).start()
        self.assertFails(self.rtr_tcp(SRV4, 8009, timeout=1.5), "enforcing egress before kill")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "enforcing ingress before kill")
        a.kill()
        # Program still attached, nobody on the queue: the module queues with the bypass flag.
        self.assertEqual(len(self.lab.tc_filters("r-srv", "egress")), 1)
        self.assertConnects(self.lab.tcp(SRV4, 8008, timeout=3), "after SIGKILL: ingress TCP")
        self.assertConnects(self.rtr_tcp(SRV4, 8007, timeout=3), "after SIGKILL: egress TCP")
        self.assertConnects(self.rtr_udp(SRV6, 5303, count=2), "after SIGKILL: egress UDP6")
        self.transfer(self.lab.rtr, SRV4, 2 << 20)
        st = a.stats()
        self.assertGreater(st["TO_NATIVE"], 0, st)
        # Restart on the same pins: enforcing again.
        a.start()
        self.assertFails(self.rtr_tcp(SRV4, 8009, timeout=1.5), "egress enforced after restart")
        self.assertConnects(self.rtr_tcp(SRV4, 8001), "egress 8001 after restart")
        self.assertEqual(a.stop(signal.SIGTERM), 0, a.log())
        self.assertEqual(self.lab.tc_filters("r-srv", "egress"), [], "egress detached")


if __name__ == "__main__":
    harness.main()
