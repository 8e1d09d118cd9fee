#!/usr/bin/env python3
"""Restart without amnesia: a restarted agent adopts the previous run's pinned flow cache (when the
layout version stamp matches) so cached flows are not queued again; fail-closed while down."""
import json
import re
import signal
import socket
import subprocess
import time

import bpfmap
import harness
from harness import CLI4, PYTHON, SRV4, LabTestCase, rule

FLOWS = 10000
UDP_PORT = 5301  # netprobe echo server in the lab
FIRST_SPORT = 20000


class RestartTest(LabTestCase):

    def cache_flows(self, agent, first=FIRST_SPORT, count=FLOWS, verdict=bpfmap.VERDICT_ALLOW):
        """count controller FLOW accepts (UDP CLI4:sport -> SRV4:5301) written into nfr_flows."""
        m = bpfmap.PinnedMap(agent.pin_dir / "nfr_flows")
        try:
            link = self.lab.run(self.lab.rtr, ["ip", "-j", "link", "show", "r-cli"], check=True)
            ifindex = json.loads(link.stdout)[0]["ifindex"]
            for sport in range(first, first + count):
                m.update(bpfmap.flow_key(socket.IPPROTO_UDP, CLI4, sport, SRV4, UDP_PORT),
                         bpfmap.flow_value(verdict, bpfmap.ORIGIN_CONTROLLER, 600,
                                           ifindex=ifindex, origin_id=sport))
        finally:
            m.close()

    def send_flows(self, first=FIRST_SPORT, count=FLOWS):
        r = self.lab.run(self.lab.cli, [PYTHON, str(harness.HERE / "udp_flows.py"), CLI4, SRV4,
                                        str(UDP_PORT), str(first), str(count)],
                         timeout=120, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def traffic(self, agent, what, **kw):
        """Sends the flows; returns (echoed, stats delta)."""
        before = agent.stats()
        res = self.send_flows(**kw)
        d = harness.delta(agent.stats(), before)
        print(f"{what}: {res}, queued {d['SENT_UP']}, cache_allow {d['CACHE_ALLOW']}", flush=True)
        return res["echoed"], d

    def restart(self, agent):
        self.assertEqual(agent.stop(signal.SIGTERM), 0, agent.log())
        agent.start()

    def test_cached_flows_survive_restart(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)]).start()
        self.cache_flows(a)
        echoed, d = self.traffic(a, "before restart")
        self.assertGreaterEqual(echoed, FLOWS * 0.95, "cached flows pass before the restart "
                                "(a few echoes may be lost to the Python echo server)")
        self.assertEqual(d["SENT_UP"], 0, f"cached flows never go up: {d}")

        self.restart(a)
        self.assertRegex(a.log(), r"adopted pinned maps of the previous agent .*nfr_flows")
        echoed, d = self.traffic(a, "after restart")
        self.assertEqual(d["SENT_UP"], 0, f"zero cached flows queued again after the restart: {d}")
        self.assertGreaterEqual(d["CACHE_ALLOW"], FLOWS, f"all of them hit the cache: {d}")
        self.assertGreaterEqual(echoed, FLOWS * 0.95, "cached flows still pass after the restart")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "the policy still works after adoption")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "default drop after adoption")

    def test_without_keep_flow_cache_flows_are_asked_again(self):
        # The control: the same traffic with the cache recreated is queued (and dropped).
        a = self.agent(restart={"keepFlowCache": False}).start()
        self.cache_flows(a, count=500)
        self.assertGreaterEqual(self.traffic(a, "before restart", count=500)[0], 475)
        self.restart(a)
        self.assertNotRegex(a.log(), r"adopted pinned maps")
        echoed, d = self.traffic(a, "after restart, cache not kept", count=500)
        self.assertEqual(echoed, 0, "default drop once the cache is gone")
        self.assertGreater(d["SENT_UP"], 0, f"flows go up again: {d}")

    def test_layout_version_mismatch_recreates_maps(self):
        a = self.agent().start()
        self.cache_flows(a, count=500)
        self.assertEqual(self.agent_stop(a), 0)
        cfg = bpfmap.read_config(a.pin_dir)
        self.assertEqual(cfg[6], 1, f"nfr_config carries the layout version: {cfg}")
        cfg[6] = 999
        bpfmap.write_config(a.pin_dir, cfg)
        a.start()
        self.assertRegex(a.log(), r"have layout version 999, this agent uses 1: recreating them")
        echoed, d = self.traffic(a, "after restart, other layout", count=500)
        self.assertEqual(echoed, 0, "flows of an incompatible cache are asked again (and dropped)")
        self.assertGreater(d["SENT_UP"], 0, f"{d}")

    def test_flow_cache_resize_recreates_flows(self):
        a = self.agent().start()
        self.cache_flows(a, count=100)
        self.assertEqual(self.agent_stop(a), 0)
        a.config["flowCache"] = {"maxEntries": 131072}
        a.start()
        self.assertRegex(a.log(), r"pinned nfr_flows of the previous agent not adopted \(it holds up "
                                  r"to 65536 entries, this agent is configured for 131072\)")
        self.assertEqual(self.traffic(a, "after resize", count=100)[0], 0)

    def test_fail_closed_while_down(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)],
                       restart={"failClosedWhileDown": True}).start()
        if a.mode() == "native":
            self.skipTest("native fail-closed needs the module loaded with fail_closed=1")
        self.cache_flows(a, count=50)
        self.cache_flows(a, first=FIRST_SPORT + 50, count=50, verdict=bpfmap.VERDICT_DENY)
        self.assertConnects(self.lab.tcp(SRV4, 8001), "running")
        self.assertEqual(self.agent_stop(a), 0)
        self.assertRegex(a.log(), r"leaving the tc program and the queue path in place")
        self.assertEqual(len(self.lab.tc_filters()), 1, "program still attached while down")
        self.assertTrue(self.lab.compat_rules(), "queue rule still installed while down")
        self.assertFails(self.lab.tcp(SRV4, 8001, timeout=1.5), "down: new flows are dropped")
        self.assertGreaterEqual(self.send_flows(count=50)["echoed"], 45, "down: cached accepts pass")
        self.assertEqual(self.send_flows(first=FIRST_SPORT + 50, count=50)["echoed"], 0,
                         "down: cached drops stay dropped")
        a.kill() if a.running() else None
        a.start()
        self.assertEqual(len(self.lab.tc_filters()), 1, "restart replaces the program, once")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "enforcing after restart")
        # SIGKILL: the same, no bypass on the queue rule.
        a.kill()
        self.assertFails(self.lab.tcp(SRV4, 8001, timeout=1.5), "killed: new flows are dropped")
        # Back to the default: a clean stop detaches everything.
        a.config["restart"] = {}
        a.start()
        self.assertEqual(self.agent_stop(a), 0)
        self.assertEqual(self.lab.tc_filters(), [], "fail-open default detaches on exit")
        self.assertEqual(self.lab.compat_rules(), [], "fail-open default removes the queue rule")

    def test_compat_restart_swap_never_lets_a_selected_packet_pass(self):
        """fail_closed_while_down across restarts: the new agent adds its queue rule before it
        removes the old one, so at no moment of a restart does a new flow pass unqueued
        (default drop: a datagram at the sink is one that bypassed the queue)."""
        a = self.agent(restart={"failClosedWhileDown": True}).start()
        if a.mode() == "native":
            self.skipTest("native mode has no compat rule to swap")
        rules = self.lab.compat_rules()
        spray = str(harness.HERE / "udp_spray.py")
        sink = self.lab.popen(self.lab.srv, [PYTHON, spray, "count", "9009"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.assertEqual(sink.stdout.readline().strip(), "ready")
        before = a.stats()
        sender = self.lab.popen(self.lab.cli, [PYTHON, spray, "send", CLI4, SRV4, "9009", "120"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        for _ in range(3):
            self.restart(a)
            time.sleep(0.5)
        sender.terminate()
        sent = json.loads(sender.communicate(timeout=30)[0].strip().splitlines()[-1])["sent"]
        d = harness.delta(a.stats(), before)
        sink.stdin.close()
        received = json.loads(sink.stdout.read().strip().splitlines()[-1])["received"]
        print(f"3 restarts under {sent} new flows: {received} reached the server, "
              f"queued {d['SENT_UP']} (by the running agents)", flush=True)
        self.assertGreater(sent, 1000, "the sender kept new flows coming through the restarts")
        self.assertGreater(d["SENT_UP"], 0, f"the flows were selected and queued: {d}")
        self.assertEqual(received, 0, "no new flow passed unqueued during a restart")
        self.assertEqual(len(re.findall(r"replaced \d+ compat rule\(s\) left by a previous agent "
                                        r"\(new rule added first\)", a.log())), 3, a.log())
        self.assertEqual(len(self.lab.compat_rules()), len(rules),
                         f"the old rules are gone after the swaps: {self.lab.compat_rules()}")

    def agent_stop(self, a):
        rc = a.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, a.log())
        return rc


if __name__ == "__main__":
    harness.main()
