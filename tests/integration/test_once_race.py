#!/usr/bin/env python3
"""The ONCE retransmit race (issue 8), reproduced deterministically and repeated: a connection
is held pending, a retransmission of its SYN (the very same frame) joins it before the Decide
ONCE accept, and another copy arrives after the Decide, as a SYN already queued but read late
would. The established connection's data must pass and no second pending entry may appear.
Before the grace entry this second SYN opened a new pending entry and the connection's data was
held until the default drop. Every step waits for an observable state (pending list, decide
reply, client output); nothing sleeps. NFR_ONCE_RACE_ROUNDS sets the rounds (default 50)."""
import json
import os
import subprocess
import time

import harness
from harness import CtlLabTestCase, PYTHON, SRV4, Ctl, rule

CLIENT = harness.HERE / "syn_replay_client.py"
PORT = 8006
ROUNDS = int(os.environ.get("NFR_ONCE_RACE_ROUNDS", "50"))


class OnceRaceTest(CtlLabTestCase):

    def pending(self, ctl):
        return ctl.ok("pending", "list")

    def wait_pending(self, ctl, pred, what, timeout=5.0):
        deadline = time.monotonic() + timeout * harness.TIME_SCALE
        while True:
            rows = self.pending(ctl)
            hit = [p for p in rows if pred(p)]
            if hit:
                return hit[0]
            if time.monotonic() > deadline:
                self.fail(f"no {what} in {timeout}s; pending: {rows}")

    def test_syn_retransmissions_around_a_once_accept(self):
        a = self.agent([rule("ask", "ask", "tcp", PORT)], default="drop",
                       policy={"pendingTimeoutMs": 8000}).start()
        ctl = Ctl(a)
        client = self.lab.popen(self.lab.cli, [PYTHON, str(CLIENT), "c0", SRV4, str(PORT)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(harness.stop_process, client)

        def ask(cmd):
            client.stdin.write(cmd + "\n")
            client.stdin.flush()
            return json.loads(client.stdout.readline())

        t0 = time.monotonic()
        for n in range(ROUNDS):  # the first failing round ends the test (its state lingers)
            sport = ask("connect").get("sport")
            self.assertIsNotNone(sport, f"round {n}: the client's SYN was captured")
            mine = lambda p, s=sport: p["flow"]["src_port"] == s
            held = self.wait_pending(ctl, mine, f"pending connection from port {sport}")
            # The retransmission joins the held connection before the decide.
            self.assertTrue(ask("dup")["dup"])
            self.wait_pending(ctl, lambda p: mine(p) and p.get("packets", 0) >= 2,
                              "second held SYN")
            ctl.ok("decide", str(held["id"]), "accept")
            # A copy of the SYN after the decide: a retransmission read late.
            self.assertTrue(ask("dup")["dup"])
            res = ask("finish")
            self.assertTrue(res.get("ok"), f"round {n}: data of the accepted connection: "
                            f"{res}\n{a.log()[-3000:]}")
            self.assertEqual(self.pending(ctl), [],
                             f"round {n}: a second pending entry appeared")
        took = time.monotonic() - t0
        print(f"{ROUNDS} rounds in {took:.1f} s")
        # One question per connection: no copy of a SYN was ever asked about again.
        status = ctl.ok("status")[0]
        self.assertEqual(int(status["counters"]["asked"]), ROUNDS, f"{status['counters']}")


if __name__ == "__main__":
    harness.main()
