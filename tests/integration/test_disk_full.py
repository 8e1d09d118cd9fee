#!/usr/bin/env python3
"""A full disk under the state database: policy changes fail with a clear RESOURCE_EXHAUSTED
status and change nothing, the agent keeps enforcing, and it recovers when space returns."""
import os
import subprocess
import unittest

import harness
from harness import SRV4, Ctl, LabTestCase, rule


class DiskFullTest(LabTestCase):

    @classmethod
    def setUpClass(cls):
        if not harness.ctl_binary():
            raise unittest.SkipTest("NFR_CTL is not an executable nfrctl (ctest sets it)")
        super().setUpClass()

    def fill(self, directory):
        filler = os.path.join(directory, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        return filler

    def test_full_disk_refuses_changes_keeps_enforcing_and_recovers(self):
        db_dir = os.path.join(self.workdir, "db")
        os.makedirs(db_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", db_dir], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", db_dir], check=False)
        a = self.agent([rule("web", "accept", "tcp", 8001)])
        a.config["store"] = {"dbPath": os.path.join(db_dir, "state.db")}
        a.start()
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


if __name__ == "__main__":
    harness.main()
