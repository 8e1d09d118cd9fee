#!/usr/bin/env python3
"""Agent lifecycle: clean shutdown, SIGKILL fail-open + restart, pin-dir ownership."""
import signal

import harness
from harness import SRV4, Agent, LabTestCase, rule

RULES = [rule("web", "accept", "tcp", 8001)]  # everything else: default drop


class LifecycleTest(LabTestCase):

    def assertEnforcing(self, what):
        self.assertConnects(self.lab.tcp(SRV4, 8001), f"{what}: TCP 8001 (rule accept)")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), f"{what}: TCP 8009 (default drop)")

    def assertAttachedOnce(self, agent, what):
        filters = self.lab.tc_filters()
        self.assertEqual(len(filters), 1, f"{what}: tc bpf filters on r-cli ingress: {filters}")
        rules = self.lab.compat_rules()
        if agent.mode() == "compat":
            self.assertIn(len(rules), (1, 2), f"{what}: one queue rule per family: {rules}")
        else:
            self.assertEqual(rules, [], f"{what}: native mode needs no queue rule")

    def assertDetached(self, what):
        self.assertEqual(self.lab.tc_filters(), [], f"{what}: tc filters left on r-cli")
        self.assertEqual(self.lab.compat_rules(), [], f"{what}: queue rules left")

    def test_sigterm_detaches_cleanly(self):
        a = self.agent(RULES).start()
        self.assertEnforcing("running")
        self.assertAttachedOnce(a, "running")
        self.assertEqual(a.stop(signal.SIGTERM), 0, "SIGTERM exit status\n" + a.log())
        self.assertDetached("after SIGTERM")
        # The maps stay pinned for the next agent (restart.keep_flow_cache, test_restart.py).
        self.assertTrue((a.pin_dir / "nfr_flows").exists(), "flow cache kept pinned for a restart")
        self.assertConnects(self.lab.tcp(SRV4, 8009), "no agent: traffic flows")

    def test_sigterm_releases_held_packets_with_default_verdict(self):
        for default, expect_ok in (("accept", True), ("drop", False)):
            with self.subTest(default=default):
                a = self.agent([rule("ask", "ask", "tcp", 8001)], default=default,
                               policy={"pendingTimeoutMs": 20000}).start()
                client = self.lab.tcp_async(SRV4, 8001, timeout=4)
                a.wait_log(r"pending \d+ tcp .*:8001 ")
                self.assertEqual(a.stop(signal.SIGTERM), 0, a.log())
                res = self.lab.result(client)
                if expect_ok:
                    self.assertConnects(res, "held SYN accepted at shutdown (default accept)")
                    self.assertLess(res["connect_ms"], 3000, f"released at shutdown: {res}")
                else:
                    # Dropped at shutdown; the retransmitted SYN then meets no agent at all.
                    self.assertRegex(a.log(), r"decision drop tcp .*:8001")
                self.assertDetached(f"after SIGTERM (default {default})")

    def test_sigkill_fails_open_and_restart_reattaches(self):
        a = self.agent(RULES).start()
        self.assertEnforcing("before SIGKILL")
        a.kill()
        # The program and the queue rule are still in place, nobody reads the queue: the queue
        # bypass flag lets new connections through instead of black-holing them.
        self.assertConnects(self.lab.tcp(SRV4, 8009, timeout=3), "after SIGKILL: TCP 8009")
        self.assertConnects(self.lab.tcp(SRV4, 8001, send=1 << 20, timeout=5),
                            "after SIGKILL: TCP 8001")
        self.assertTrue(self.lab.ping(SRV4), "after SIGKILL: ping")
        # Restart on the same pin dir: takes over the stale state, attaches exactly once.
        a.start()
        self.assertAttachedOnce(a, "after restart")
        self.assertEnforcing("after restart")
        before = a.stats()
        self.assertConnects(self.lab.tcp(SRV4, 8001, send=1 << 20, timeout=5), "cached after restart")
        d = harness.delta(a.stats(), before)
        self.assertEqual(d["SENT_UP"], 1, f"after restart the flow is cached again: {d}")
        self.assertEqual(a.stop(), 0, a.log())
        self.assertDetached("after restart + SIGTERM")

    def test_second_agent_on_same_pin_dir_is_refused(self):
        first = self.agent(RULES).start()
        second = Agent(self.lab, self.workdir, name="second", pin_dir=first.pin_dir,
                       queue_num=first.queue_num + 100)
        second.config["policy"] = {"defaultVerdict": "VERDICT_ACCEPT"}
        self.agents.append(second)
        second.start(wait=False)
        rc = second.proc.wait(20)
        log = second.log()
        self.assertNotEqual(rc, 0, "second agent must refuse to start\n" + log)
        self.assertRegex(log, str(first.pin_dir), "the refusal names the pin dir")
        self.assertRegex(log, rf"\b{first.proc.pid}\b", "the refusal names the owner's pid")
        # The first agent is untouched: still attached once, still enforcing its policy.
        self.assertTrue(first.running(), first.log())
        self.assertAttachedOnce(first, "after refused second agent")
        self.assertEnforcing("first agent after refused second agent")


if __name__ == "__main__":
    harness.main()
