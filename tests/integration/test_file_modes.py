#!/usr/bin/env python3
"""File modes: the state directory and the database with its -wal/-shm files are not readable by
other users, whatever the caller's umask; a missing API socket group is logged."""
import os
import stat
import subprocess

import harness
from harness import SRV4, LabTestCase, rule


class FileModesTest(LabTestCase):

    def test_state_files_are_private(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)])
        state_dir = os.path.join(self.workdir, "state", "nfr")
        db = os.path.join(state_dir, "state.db")
        a.config["store"] = {"dbPath": db}
        old = os.umask(0)  # the agent must not depend on a careful caller
        try:
            a.start()
        finally:
            os.umask(old)
        self.assertConnects(self.lab.tcp(SRV4, 8001), "a policy decision (logged)")
        a.wait_log(r"decision accept tcp .*:8001")
        for path in (state_dir, db, db + "-wal", db + "-shm"):
            self.assertTrue(os.path.exists(path), f"{path} exists")
            mode = stat.S_IMODE(os.stat(path).st_mode)
            print(f"{path}: {oct(mode)}", flush=True)
            self.assertEqual(mode & 0o007, 0, f"{path} is {oct(mode)}: readable by other users")

    def test_missing_socket_group_is_logged(self):
        a = self.agent()
        a.config["api"]["socketGroup"] = "nfr-it-no-such-group"
        a.start()
        self.assertRegex(a.log(), r"api\.socket_group 'nfr-it-no-such-group' does not exist")
        mode = stat.S_IMODE(os.stat(a.socket).st_mode)
        self.assertEqual(mode, 0o660, f"socket mode {oct(mode)}")


if __name__ == "__main__":
    harness.main()
