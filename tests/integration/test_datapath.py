#!/usr/bin/env python3
"""Verdicts with real traffic: TCP, UDP, ICMP, IPv6, flow cache bypass, pending timeouts, selection."""
import time

import harness
from harness import SRV4, SRV6, RTR_SRV4, LabTestCase, delta, rule


class DatapathTest(LabTestCase):

    def test_tcp_allowed_and_cached_flow_bypasses_userspace(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)]).start()
        before = a.stats()
        res = self.lab.tcp(SRV4, 8001, send=4 << 20, timeout=10)
        self.assertConnects(res, "TCP 8001 (rule accept)")
        d = delta(a.stats(), before)
        # Only the SYN went to userspace; the handshake ACK and the data stayed in the kernel.
        self.assertEqual(d["SENT_UP"], 1, f"packets sent up: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], 10, f"cached-allow packets: {d}")
        a.wait_log(r"decision accept tcp 10\.77\.0\.2:\d+ -> 10\.77\.1\.2:8001")
        # A second transfer on a new connection asks once more, then stays in the kernel.
        mid = a.stats()
        self.assertConnects(self.lab.tcp(SRV4, 8001, send=1 << 20, timeout=10), "second connect")
        d2 = delta(a.stats(), mid)
        self.assertEqual(d2["SENT_UP"], 1, f"second connection: {d2}")

    def test_tcp_dropped_connection_fails(self):
        a = self.agent([rule("web", "accept", "tcp", 8001),
                        rule("block", "drop", "tcp", 8002)], default="accept").start()
        before = a.stats()
        # 2.5 s covers the SYN retransmit at 1 s: it must be dropped by the cached deny.
        self.assertFails(self.lab.tcp(SRV4, 8002, timeout=2.5), "TCP 8002 (rule drop)")
        d = delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 1, f"only the first SYN goes up: {d}")
        self.assertGreaterEqual(d["CACHE_DENY"], 1, f"retransmitted SYN dropped in kernel: {d}")
        a.wait_log(r"decision drop tcp 10\.77\.0\.2:\d+ -> 10\.77\.1\.2:8002")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "TCP 8001 still allowed")

    def test_udp_allowed_and_dropped(self):
        a = self.agent([rule("dns", "accept", "udp", 5301),
                        rule("noudp", "drop", "udp", 5302)]).start()
        before = a.stats()
        res = self.lab.udp(SRV4, 5301, count=5)
        self.assertConnects(res, "UDP 5301 (rule accept)")
        d = delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 1, f"first datagram only: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], 4, f"later datagrams cached: {d}")
        self.assertFails(self.lab.udp(SRV4, 5302, timeout=1.0), "UDP 5302 (rule drop)")
        self.assertFails(self.lab.udp(SRV4, 5303, timeout=1.0), "UDP 5303 (default drop)")
        a.wait_log(r"decision accept udp 10\.77\.0\.2:\d+ -> 10\.77\.1\.2:5301")
        a.wait_log(r"decision drop udp 10\.77\.0\.2:\d+ -> 10\.77\.1\.2:5302")

    def test_icmp_allowed_and_dropped(self):
        a = self.agent([rule("ping-srv", "accept", "icmp", dst=SRV4 + "/32"),
                        rule("ping-srv6", "accept", "icmpv6", dst=SRV6 + "/128")]).start()
        before = a.stats()
        self.assertTrue(self.lab.ping(SRV4, count=3), "ping 10.77.1.2 (rule accept)\n"
                        + self.agent_logs())
        d = delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 1, f"first echo request only: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], 2, f"later echo requests cached: {d}")
        self.assertFalse(self.lab.ping(RTR_SRV4, timeout=1), "ping 10.77.1.1 (default drop)")
        self.assertTrue(self.lab.ping(SRV6, count=2), "ping6 fd77:1::2 (rule accept)\n"
                        + self.agent_logs())
        self.assertFalse(self.lab.ping(harness.RTR_SRV6, timeout=1), "ping6 fd77:1::1 (drop)")

    def test_ipv6_tcp(self):
        a = self.agent([rule("web6", "accept", "tcp", 8006, dst="fd77:1::/64")]).start()
        before = a.stats()
        self.assertConnects(self.lab.tcp(SRV6, 8006, send=2 << 20, timeout=10), "TCP6 8006")
        d = delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 1, f"IPv6 SYN only: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], 5, f"IPv6 data cached: {d}")
        a.wait_log(r"decision accept tcp \[?fd77::2\]?[:.]\d+ -> \[?fd77:1::2\]?[:.]8006")
        self.assertFails(self.lab.tcp(SRV6, 8005, timeout=1.5), "TCP6 8005 (default drop)")

    def _pending_timeout(self, default):
        a = self.agent([rule("ask", "ask", "tcp", 8007)], default=default,
                       policy={"pendingTimeoutMs": 700}).start()
        t0 = time.monotonic()
        res = self.lab.tcp(SRV4, 8007, timeout=4)
        return a, res, time.monotonic() - t0

    def test_pending_times_out_to_default_accept(self):
        a, res, _ = self._pending_timeout("accept")
        self.assertConnects(res, "ASK with nobody deciding, default accept")
        self.assertGreaterEqual(res["connect_ms"], 500, f"SYN was held until the timeout: {res}")
        a.wait_log(r"decision accept tcp .*8007")

    def test_pending_times_out_to_default_drop(self):
        a, res, _ = self._pending_timeout("drop")
        self.assertFails(res, "ASK with nobody deciding, default drop")
        a.wait_log(r"decision drop tcp .*8007")

    def test_unselected_flow_never_reaches_queue(self):
        # Only TCP port 8001 is selected; everything else must pass without asking even though
        # the policy drops everything.
        a = self.agent(selection={"protocols": ["PROTOCOL_TCP"], "dstPorts": [8001]}).start()
        before = a.stats()
        self.assertConnects(self.lab.tcp(SRV4, 8008, send=1 << 20, timeout=5), "TCP 8008")
        self.assertConnects(self.lab.udp(SRV4, 5303, count=3), "UDP 5303 (protocol unselected)")
        self.assertTrue(self.lab.ping(SRV4), "ping (protocol unselected)")
        d = delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 0, f"nothing sent up: {d}")
        self.assertGreaterEqual(d["UNSELECTED"], 3, f"unselected packets counted: {d}")
        self.assertEqual(d["CACHE_ALLOW"] + d["CACHE_DENY"] + d["CACHE_PENDING"], 0, f"{d}")
        # The selected port is still decided (default drop).
        self.assertFails(self.lab.tcp(SRV4, 8001, timeout=1.5), "TCP 8001 (selected, dropped)")
        self.assertGreaterEqual(delta(a.stats(), before)["SENT_UP"], 1)

    def test_pending_table_overflow_applies_default_at_once(self):
        a = self.agent([rule("ask", "ask", "tcp")], default="accept",
                       policy={"pendingTimeoutMs": 6000}, pending={"maxFlows": 1})
        a.start()
        held = self.lab.tcp_async(SRV4, 8001, timeout=10)
        a.wait_log(r"pending \d+ tcp .*:8001 ")
        res = self.lab.tcp(SRV4, 8002, timeout=3)
        self.assertConnects(res, "second connection while the table is full: default accept")
        self.assertLess(res["connect_ms"], 1000, f"not held: {res}")
        res = self.lab.result(held)
        self.assertConnects(res, "held connection: default accept at its timeout")
        self.assertGreater(res["connect_ms"], 5000, f"held until the timeout: {res}")

    def test_queue_fanout_over_two_queues(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)],
                       queue={"num": 4300 + len(self.agents), "count": 2}).start()
        first = a.queue_num = a.config["queue"]["num"]
        self.assertIn(f"queues {first}..{first + 1}", a.log())
        # The kernel spreads flows over the queues by an address hash (not ports), so the
        # connections come from 16 client addresses: all on one queue by chance is 2^-15.
        n = 16
        srcs = [f"10.77.0.{100 + i}" for i in range(n)]
        for src in srcs:
            self.lab.run(self.lab.cli, ["ip", "addr", "add", src + "/24", "dev", "c0"], check=True)
            self.addCleanup(self.lab.run, self.lab.cli, ["ip", "addr", "del", src + "/24",
                                                         "dev", "c0"])
        before = a.stats()
        for src in srcs:
            self.assertConnects(self.lab.tcp(SRV4, 8001, src=src), f"connection from {src}")
        self.assertEqual(delta(a.stats(), before)["SENT_UP"], n)
        decisions = [l for l in a.log().splitlines() if l.startswith("decision accept tcp")]
        self.assertEqual(len(decisions), n, a.log())
        # /proc/net/netfilter/nfnetlink_queue (router netns): queue, portid, waiting, mode, range,
        # queue_dropped, user_dropped, last packet id.
        rows = self.lab.run(self.lab.rtr, ["cat", "/proc/net/netfilter/nfnetlink_queue"]).stdout
        ids = {int(r.split()[0]): int(r.split()[7]) for r in rows.splitlines() if r.strip()}
        self.assertGreater(ids.get(first, 0), 0, f"queue {first} used: {rows}")
        self.assertGreater(ids.get(first + 1, 0), 0, f"queue {first + 1} used: {rows}")


if __name__ == "__main__":
    harness.main()
