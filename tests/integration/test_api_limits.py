#!/usr/bin/env python3
"""The API under a hostile local client (issue 12): idle connections past the caps, watch
streams past the caps. The real nfr-agent keeps serving other callers, says which limit was hit,
and its RSS stays bounded (printed)."""
import json
import os
import resource
import socket
import subprocess
import time

import harness
from harness import CtlLabTestCase, Ctl

IDLE = 1100


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class ApiLimitsTest(CtlLabTestCase):

    def status_within(self, argv, seconds):
        t0 = time.monotonic()
        r = subprocess.run(argv + ["status", "-o", "json"], capture_output=True, text=True,
                           timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, f"status failed: {r.stderr}")
        self.assertLess(took, seconds * harness.TIME_SCALE, f"status took {took:.2f} s")
        return took

    def test_idle_connections_and_streams_past_the_caps(self):
        a = self.agent([], default="drop")
        a.config["api"]["limits"] = {"handshakeTimeoutMs": 3000}
        a.start()
        os.chmod(self.workdir, 0o711)  # uid 65534 reaches the socket (0660, group root)
        ctl = Ctl(a)
        pid = a.proc.pid
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        print(f"agent RSS at start: {rss_kib(pid)} KiB")

        # 1100 connections that never speak, as root.
        idle = []
        for _ in range(IDLE):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(a.socket))
            idle.append(s)
        self.addCleanup(lambda: [s.close() for s in idle])
        time.sleep(1.0)
        # Root is over its per-peer cap: nfrctl says which limit may have closed it.
        r = subprocess.run(ctl.argv + ["status"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("max_connections_per_peer", r.stderr)
        # Another local user (uid 65534, in the socket's group) is served meanwhile.
        other = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=0"] + ctl.argv
        took = self.status_within(other, 1.0)
        print(f"status as uid 65534 during the flood: {took:.3f} s")
        r = subprocess.run(other + ["status", "-o", "json"], capture_output=True, text=True,
                           timeout=30)
        counters = json.loads(r.stdout)["counters"]
        refused = int(counters.get("api_connections_refused", 0))
        self.assertGreaterEqual(refused, IDLE - 64, counters)
        # Root's own slots come back at the preface deadline.
        time.sleep(3.5)
        self.status_within(ctl.argv, 1.0)
        print(f"agent RSS after {IDLE} idle connections: {rss_kib(pid)} KiB, "
              f"{refused} refused")
        for s in idle:
            s.close()
        idle.clear()

        # Watch streams: one identity past max_streams_per_peer (16).
        watchers = []
        for _ in range(20):
            p = subprocess.Popen(ctl.argv + ["pending", "watch", "--no-tty"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
            watchers.append(p)
        self.addCleanup(lambda: [harness.stop_process(p) for p in watchers])
        time.sleep(2.0 * harness.TIME_SCALE)
        ended = [p for p in watchers if p.poll() is not None]
        self.assertEqual(len(ended), 4, "exactly the streams past the per-peer cap end")
        for p in ended:
            self.assertEqual(p.returncode, 7)
            self.assertIn("api.limits.max_streams_per_peer (16)", p.stderr.read())
        self.status_within(ctl.argv, 1.0)
        print(f"agent RSS with 16 watch streams: {rss_kib(pid)} KiB")
        for p in watchers:
            harness.stop_process(p)
        time.sleep(1.0)
        counters = ctl.ok("status")[0]["counters"]
        self.assertEqual(int(counters.get("api_streams_refused", 0)), 4, counters)
        self.assertEqual(int(counters.get("watchers", 0)), 0, counters)
        print(f"agent RSS at the end: {rss_kib(pid)} KiB")


if __name__ == "__main__":
    harness.main()
