#!/usr/bin/env python3
"""Policy changes reach live flows (issue 8): revocation of cached policy flows, controller
decisions that survive unrelated changes, pending connections resolved by a new rule, and
`nfrctl flows deny` cutting a live connection."""
import json
import subprocess
import time

import harness
from harness import CtlLabTestCase, PYTHON, SRV4, Ctl, rule

STREAM = harness.HERE / "stream_client.py"
WEB = 8005


class EnforcementTest(CtlLabTestCase):

    def stream(self, port, seconds=8.0):
        p = self.lab.popen(self.lab.cli, [PYTHON, str(STREAM), SRV4, str(port), "--seconds",
                                          str(seconds)], stdout=subprocess.PIPE, text=True)
        self.addCleanup(harness.stop_process, p)
        first = json.loads(p.stdout.readline())
        self.assertTrue(first.get("connected"), f"stream client connected: {first}")
        return p

    def asking_agent(self):
        """An agent that holds TCP :WEB for a controller, and a pending watch past its snapshot."""
        a = self.agent([rule("ask-web", "ask", "tcp", WEB)], default="drop",
                       policy={"pendingTimeoutMs": 8000}).start()
        ctl = Ctl(a)
        w = ctl.watch()
        self.addCleanup(w.stop)
        w.wait_for(lambda ev: "snapshot_done" in ev, what="snapshot_done")
        return ctl, w

    @staticmethod
    def stall_time(p, after):
        """Monotonic time of the server's last ACK once none came for 1 s (None: kept flowing)."""
        for line in p.stdout:
            ev = json.loads(line)
            if ev["t"] >= after and ev["last_ack_ms"] >= 1000:
                return ev["t"] - ev["last_ack_ms"] / 1000.0
        return None

    def test_removing_the_accepting_rule_cuts_an_established_connection(self):
        a = self.agent([rule("web", "accept", "tcp", WEB)], default="drop").start()
        ctl = Ctl(a)
        p = self.stream(WEB)
        time.sleep(1.0)
        self.assertTrue(a.stats()["CACHE_ALLOW"] > 0, "the flow runs from the cache")
        t0 = time.monotonic()
        ctl.ok("policy", "rm-rule", "web")
        stalled = self.stall_time(p, t0 - 0.5)
        self.assertIsNotNone(stalled, "the connection kept flowing after the rule was removed")
        self.assertLess(stalled - t0, 1.0 * harness.TIME_SCALE,
                        f"stopped {stalled - t0:.2f}s after rm-rule")
        self.assertGreater(a.stats()["CACHE_DENY"], 0, "dropped in the kernel by the cache")
        print(f"connection stopped {stalled - t0:.3f} s after nfrctl policy rm-rule")

    def test_flows_deny_cuts_an_established_connection(self):
        a = self.agent([rule("web", "accept", "tcp", WEB)], default="drop").start()
        ctl = Ctl(a)
        p = self.stream(WEB)
        time.sleep(1.0)
        flows = ctl.ok("flows", "list", "--protocol", "tcp", "--prefix", SRV4)
        self.assertEqual(len(flows), 1, f"{flows}")
        self.assertEqual(flows[0]["origin"], "FLOW_ORIGIN_POLICY", f"{flows}")
        self.assertEqual(flows[0].get("rule_id"), "web", f"{flows}")
        t0 = time.monotonic()
        out = ctl.ok("flows", "deny", "--protocol", "tcp", "--prefix", SRV4, "--reason", "test")
        self.assertEqual(out[0].get("changed"), 1, f"{out}")
        stalled = self.stall_time(p, t0 - 0.5)
        self.assertIsNotNone(stalled, "the connection kept flowing after nfrctl flows deny")
        self.assertLess(stalled - t0, 1.0 * harness.TIME_SCALE,
                        f"stopped {stalled - t0:.2f}s after flows deny")
        self.assertGreater(a.stats()["CACHE_DENY"], 0, "dropped in the kernel by the cache")
        flows = ctl.ok("flows", "list", "--origin", "operator")
        self.assertEqual([f["verdict"] for f in flows], ["VERDICT_DROP"], f"{flows}")
        logged = ctl.ok("decisions", "list", "--source", "operator")
        self.assertEqual(len(logged), 1, f"{logged}")
        self.assertEqual(logged[0]["id"], flows[0]["decision_id"], f"{logged} {flows}")
        self.assertIn("uid:0", logged[0].get("decider", ""), f"{logged}")
        # A policy change does not undo the operator's deny.
        ctl.ok("policy", "add-rule", "--id", "ssh", "--action", "drop", "--protocol", "tcp",
               "--dport", "22")
        flows = ctl.ok("flows", "list", "--origin", "operator")
        self.assertEqual(len(flows), 1, f"{flows}")
        print(f"connection stopped {stalled - t0:.3f} s after nfrctl flows deny")

    def test_controller_accept_survives_an_unrelated_change(self):
        ctl, w = self.asking_agent()
        p = self.lab.popen(self.lab.cli, [PYTHON, str(STREAM), SRV4, str(WEB), "--seconds", "6"],
                           stdout=subprocess.PIPE, text=True)
        self.addCleanup(harness.stop_process, p)
        ev = w.wait_for(lambda e: "added" in e, what="pending connection")
        ctl.ok("decide", str(ev["added"]["id"]), "accept", "--for", "10m")
        self.assertTrue(json.loads(p.stdout.readline()).get("connected"))
        time.sleep(0.5)
        t0 = time.monotonic()
        ctl.ok("policy", "add-rule", "--id", "ssh-drop", "--action", "drop", "--protocol", "tcp",
               "--dport", "22", "--position", "0")
        self.assertIsNone(self.stall_time(p, t0), "an unrelated change must not cut the flow")

    def test_a_new_accept_rule_resolves_a_pending_connection(self):
        ctl, w = self.asking_agent()
        client = self.lab.tcp_async(SRV4, WEB, send=1000, timeout=10)
        w.wait_for(lambda e: "added" in e, what="pending connection")
        t0 = time.monotonic()
        ctl.ok("policy", "add-rule", "--id", "web", "--action", "accept", "--protocol", "tcp",
               "--dport", str(WEB), "--position", "0")
        res = self.lab.result(client)
        self.assertConnects(res, "pending connection accepted by the new rule")
        self.assertLess(time.monotonic() - t0, min(3.0 * harness.TIME_SCALE, 7.0),
                        "resolved by the policy, not the timeout")
        ev = w.wait_for(lambda e: "resolved" in e, what="resolved event")
        d = ev["resolved"]["decision"]
        self.assertEqual(d["source"], "DECISION_SOURCE_POLICY", f"{d}")
        self.assertEqual(d.get("rule_id"), "web", f"{d}")


if __name__ == "__main__":
    harness.main()
