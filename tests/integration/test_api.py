#!/usr/bin/env python3
"""Control plane end to end: nfrctl (subprocess) decides held connections of real traffic over gRPC."""
import json
import os

import harness
from harness import CtlLabTestCase, SRV4, Ctl, rule

ASK = [rule("ask-web", "ask", "tcp", 8001)]
PENDING_MS = 6000


def added_for(port):
    return lambda ev: "added" in ev and ev["added"]["flow"].get("dst_port") == port


class ApiTest(CtlLabTestCase):

    def start_agent(self, rules=ASK, default="drop"):
        a = self.agent(rules, default=default, policy={"pendingTimeoutMs": PENDING_MS}).start()
        return a, Ctl(a)

    def held_connection(self, ctl, port=8001):
        """Starts a client and returns (client process, pending event) once the watcher sees it."""
        w = ctl.watch()
        self.addCleanup(w.stop)
        w.wait_for(lambda ev: "snapshot_done" in ev, what="snapshot_done")
        client = self.lab.tcp_async(SRV4, port, send=1 << 20, timeout=10)
        ev = w.wait_for(added_for(port), what=f"pending TCP :{port}")
        return client, ev["added"], w

    def decisions(self, ctl):
        return ctl.ok("decisions", "list", "--limit", "1000")

    def test_watch_and_accept_completes_connection(self):
        a, ctl = self.start_agent()
        client, pending, w = self.held_connection(ctl)
        self.assertEqual(pending["flow"]["src_addr"], harness.CLI4)
        self.assertEqual(pending["rule_id"], "ask-web")
        out = ctl.ok("decide", str(pending["id"]), "accept", "--reason", "integration test")
        self.assertTrue(out, "decide prints the decision")
        res = self.lab.result(client)
        self.assertConnects(res, "held connection accepted by nfrctl")
        self.assertLess(res["connect_ms"], PENDING_MS - 1000, f"decided, not timed out: {res}")
        w.wait_for(lambda ev: "resolved" in ev and ev["resolved"]["pending"]["id"] == pending["id"],
                   what="resolved event")
        d = [x for x in self.decisions(ctl) if x.get("pending_id") == pending["id"]]
        self.assertEqual(len(d), 1, f"one logged decision for pending {pending['id']}: {d}")
        self.assertEqual(d[0]["verdict"], "VERDICT_ACCEPT")
        self.assertEqual(d[0]["source"], "DECISION_SOURCE_CONTROLLER")
        self.assertEqual(d[0]["reason"], "integration test")
        self.assertTrue(d[0].get("decider"), f"decider recorded: {d[0]}")

    def test_watch_and_drop_fails_connection(self):
        a, ctl = self.start_agent(default="accept")  # a drop must come from the controller
        client, pending, w = self.held_connection(ctl)
        ctl.ok("decide", str(pending["id"]), "drop", "--for", "1m", "--reason", "no")
        res = self.lab.result(client)
        self.assertFails(res, "held connection dropped by nfrctl (flow scope)")
        d = [x for x in self.decisions(ctl) if x.get("pending_id") == pending["id"]]
        self.assertEqual([x["verdict"] for x in d], ["VERDICT_DROP"], f"{d}")
        self.assertEqual(d[0]["scope"], "DECISION_SCOPE_FLOW")

    def test_rule_decision_covers_next_connection(self):
        a, ctl = self.start_agent()
        client, pending, w = self.held_connection(ctl)
        out = ctl.ok("decide", str(pending["id"]), "accept", "--rule", "--rule-id", "it-rule")
        self.assertConnects(self.lab.result(client), "first connection accepted with --rule")
        self.assertEqual(out[0].get("rule", {}).get("id"), "it-rule", f"decide response: {out}")
        policy = ctl.ok("policy", "get")[0]
        ids = [r["id"] for r in policy["rules"]]
        self.assertIn("it-rule", ids, f"rule added to the policy: {policy}")
        self.assertLess(ids.index("it-rule"), ids.index("ask-web"), "new rule comes first")
        # The next connection (new source port) is accepted by the rule without asking anyone.
        res = self.lab.tcp(SRV4, 8001, timeout=3)
        self.assertConnects(res, "next connection covered by the rule")
        self.assertLess(res["connect_ms"], 1000, f"not held: {res}")
        self.assertEqual(ctl.ok("pending", "list"), [], "nothing pending")
        newest = self.decisions(ctl)[0]
        self.assertEqual(newest["source"], "DECISION_SOURCE_POLICY", f"{newest}")
        self.assertEqual(newest["rule_id"], "it-rule", f"{newest}")
        held = [l for l in a.log().splitlines() if l.startswith("pending ")]
        self.assertEqual(len(held), 1, f"only the first connection was held: {held}")

    def test_restart_keeps_policy_and_decisions(self):
        a, ctl = self.start_agent()
        ctl.ok("policy", "add-rule", "--id", "web2", "--action", "accept", "--protocol", "tcp",
               "--dport", "8002", "--position", "0")
        self.assertConnects(self.lab.tcp(SRV4, 8002), "rule added over the API")
        client, pending, w = self.held_connection(ctl)
        ctl.ok("decide", str(pending["id"]), "accept", "--reason", "before restart")
        self.assertConnects(self.lab.result(client), "decided before restart")
        w.stop()
        policy_before = ctl.ok("policy", "get")[0]
        decisions_before = self.decisions(ctl)
        self.assertEqual(a.stop(), 0, a.log())

        a.start()
        ctl = Ctl(a)
        policy_after = ctl.ok("policy", "get")[0]
        self.assertEqual(policy_after["rules"], policy_before["rules"],
                         "restart keeps the API-changed policy, not the config file's")
        self.assertGreaterEqual(int(policy_after["version"]), int(policy_before["version"]))
        after_ids = {d["id"] for d in self.decisions(ctl)}
        self.assertTrue({d["id"] for d in decisions_before} <= after_ids,
                        "decision log survives the restart")
        self.assertTrue(any(d.get("reason") == "before restart" for d in self.decisions(ctl)))
        self.assertConnects(self.lab.tcp(SRV4, 8002), "API rule enforced after restart")

    def test_bad_requests_are_refused_and_change_nothing(self):
        a, ctl = self.start_agent()
        policy = ctl.ok("policy", "get")[0]
        n_decisions = len(self.decisions(ctl))
        bad_policy = os.path.join(self.workdir, "bad-policy.json")
        with open(bad_policy, "w") as f:
            json.dump({"rules": [{"id": "x", "action": "ACTION_ACCEPT",
                                  "dst_prefixes": ["300.1.1.1/8"]}]}, f)
        good_policy = os.path.join(self.workdir, "good-policy.json")
        with open(good_policy, "w") as f:
            json.dump({"rules": [], "default_verdict": "VERDICT_ACCEPT"}, f)
        cases = [
            (["policy", "add-rule", "--id", "x", "--action", "accept", "--dst", "10.77.1.300/32"],
             5, r"dst_prefixes"),
            (["policy", "add-rule", "--id", "y", "--action", "accept", "--dport", "70000"],
             5, r"dst_ports"),
            (["policy", "add-rule", "--id", "ask-web", "--action", "accept"], 6, r"ask-web"),
            (["policy", "rm-rule", "no-such-rule"], 3, r"no-such-rule"),
            (["decide", "987654", "accept"], 3, r"987654"),
            (["policy", "apply", "-f", bad_policy], 5, r"dst_prefixes"),
            (["policy", "apply", "-f", good_policy, "--expected-version",
              str(int(policy["version"]) + 7)], 6, r"version"),
        ]
        for argv, code, msg in cases:
            with self.subTest(" ".join(argv)):
                rc, _, err = ctl.run(*argv)
                self.assertEqual(rc, code, f"exit code for {argv}: {err}")
                self.assertRegex(err, msg)
        self.assertEqual(ctl.ok("policy", "get")[0], policy, "policy unchanged")
        self.assertEqual(len(self.decisions(ctl)), n_decisions, "no decisions logged")
        # Still enforcing the unchanged policy: default drop for an unlisted port.
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "unchanged default drop")


if __name__ == "__main__":
    harness.main()
