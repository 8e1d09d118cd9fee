#!/usr/bin/env python3
"""A full disk under the state database: policy changes fail with a clear RESOURCE_EXHAUSTED
status and change nothing; a Decide is applied but reported RESOURCE_EXHAUSTED because its
durable log record failed; the agent keeps enforcing, and it recovers when space returns."""
import os
import subprocess
import time

import harness
from harness import CtlLabTestCase, SRV4, Ctl, rule


class DiskFullTest(CtlLabTestCase):

    def fill(self, directory):
        filler = os.path.join(directory, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        return filler

    def small_disk_agent(self, rules, name="db", **cfg):
        db_dir = os.path.join(self.workdir, name)
        os.makedirs(db_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", db_dir], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", db_dir], check=False)
        a = self.agent(rules, **cfg)
        a.config["store"] = {"dbPath": os.path.join(db_dir, "state.db")}
        a.start()
        return a, db_dir

    def held(self, ctl, port):
        """A client connect the policy holds; (client process, pending entry)."""
        client = self.lab.tcp_async(SRV4, port, timeout=10)
        deadline = time.monotonic() + 5 * harness.TIME_SCALE
        while time.monotonic() < deadline:
            pending = [p for p in ctl.ok("pending", "list") if p["flow"]["dst_port"] == port]
            if pending:
                return client, pending[0]
            time.sleep(0.05)
        self.fail(f"no pending connection to :{port}")

    def test_full_disk_refuses_changes_keeps_enforcing_and_recovers(self):
        a, db_dir = self.small_disk_agent([rule("web", "accept", "tcp", 8001)])
        ctl = Ctl(a)
        version = int(ctl.ok("policy", "get")[0]["version"])
        filler = self.fill(db_dir)

        rc, _, err = ctl.run("policy", "add-rule", "--id", "web2", "--action", "accept",
                             "--protocol", "tcp", "--dport", "8002", json_out=False)
        print(f"add-rule on a full disk: exit {rc}: {err.strip()}", flush=True)
        self.assertNotEqual(rc, 0, "add-rule must fail on a full disk")
        self.assertRegex(err, r"disk is probably full; nothing was changed")
        self.assertEqual(int(ctl.ok("policy", "get")[0]["version"]), version, "nothing changed")
        self.assertFails(self.lab.tcp(SRV4, 8002, timeout=1.5), "the refused rule is not in force")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "still enforcing: rule accept")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "still enforcing: default drop")
        self.assertTrue(a.running(), a.log())

        os.unlink(filler)
        ctl.ok("policy", "add-rule", "--id", "web2", "--action", "accept", "--protocol", "tcp",
               "--dport", "8002")
        self.assertConnects(self.lab.tcp(SRV4, 8002), "recovered: the rule applies")
        self.assertGreater(int(ctl.ok("policy", "get")[0]["version"]), version)

    def test_decide_on_full_disk_is_applied_reported_and_recovers(self):
        a, db_dir = self.small_disk_agent([rule("web", "accept", "tcp", 8001),
                                           rule("ask", "ask", "tcp", 8003)],
                                          policy={"pendingTimeoutMs": 8000})
        ctl = Ctl(a)
        w = ctl.watch()
        self.addCleanup(w.stop)
        w.wait_for(lambda ev: "snapshot_done" in ev, what="snapshot_done")
        filler = self.fill(db_dir)

        client, pending = self.held(ctl, 8003)
        rc, _, err = ctl.run("decide", str(pending["id"]), "accept", "--for", "5m",
                             "--reason", "full disk", json_out=False)
        print(f"decide on a full disk: exit {rc}: {err.strip()}", flush=True)
        self.assertNotEqual(rc, 0, "the durable log record failed: the caller is told")
        self.assertRegex(err, r"RESOURCE_EXHAUSTED|resource exhausted", "the status code")
        self.assertRegex(err, r"the verdict was applied, but the decision log could not record it")
        self.assertRegex(err, r"disk is probably full")
        self.assertNotRegex(err, r"nothing was changed", "the verdict did change something")
        self.assertConnects(self.lab.result(client), "the decided connection completes")
        w.wait_for(lambda ev: "resolved" in ev and ev["resolved"]["pending"]["id"] == pending["id"],
                   what="resolved event for the decided connection")
        self.assertEqual(ctl.ok("pending", "list"), [], "nothing left pending")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "still enforcing: rule accept")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "still enforcing: default drop")
        self.assertTrue(a.running(), a.log())

        os.unlink(filler)
        client, pending = self.held(ctl, 8003)
        ctl.ok("decide", str(pending["id"]), "accept", "--reason", "space is back")
        self.assertConnects(self.lab.result(client), "recovered: decided and completed")
        reasons = [d.get("reason") for d in ctl.ok("decisions", "list", "--limit", "1000")]
        self.assertIn("space is back", reasons, "recovered: the decision is logged again")
        self.assertNotIn("full disk", reasons, "the record that failed is not there")


if __name__ == "__main__":
    harness.main()
