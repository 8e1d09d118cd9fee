#!/usr/bin/env python3
"""Least privilege: nfr-agent runs as an unprivileged user (nobody) holding only CAP_NET_ADMIN,
CAP_BPF and CAP_PERFMON (setpriv), and enforces its policy; with one of them dropped it refuses
to start naming the capability it lacks. docs/security.md lists the set per mode."""
import os
import shutil
import subprocess

import harness
from harness import SRV4, Agent, LabTestCase, rule

NOBODY = 65534
CAPS = "net_admin,bpf,perfmon"


class UnprivilegedAgent(Agent):
    """An Agent started through setpriv: uid/gid nobody, no groups, the given capabilities."""

    def __init__(self, *a, caps=CAPS, **kw):
        super().__init__(*a, **kw)
        self.caps = caps

    def argv(self, extra=()):
        caps = ",".join("+" + c for c in self.caps.split(","))
        return (["env", f"RUNTIME_DIRECTORY={self.workdir}/run", "setpriv",
                 f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}",
                 f"--bounding-set=-all,{caps}", "--"] + super().argv(extra))


class LeastPrivilegeTest(LabTestCase):

    def setUp(self):
        super().setUp()
        if harness.NATIVE:
            self.skipTest("native mode loads the kernel module (CAP_SYS_MODULE); see docs")
        if not shutil.which("setpriv"):
            self.skipTest("needs setpriv (util-linux)")
        # Everything the agent writes belongs to nobody: its temp dir (config, database, socket,
        # run dir) and a private bpffs for the pins.
        os.chmod(self.workdir, 0o755)
        os.makedirs(f"{self.workdir}/run")
        self.bpffs = f"{self.workdir}/bpffs"
        os.makedirs(self.bpffs)
        subprocess.run(["mount", "-t", "bpf", "bpf", self.bpffs], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.bpffs], check=False)
        for d in (self.workdir, f"{self.workdir}/run", self.bpffs):
            os.chown(d, NOBODY, NOBODY)

    def unprivileged(self, caps=CAPS):
        a = UnprivilegedAgent(self.lab, self.workdir, name=f"agent{len(self.agents)}",
                              pin_dir=f"{self.bpffs}/nfr", caps=caps)
        a.config["policy"] = {"defaultVerdict": "VERDICT_DROP",
                              "rules": [rule("web", "accept", "tcp", 8001)]}
        a.config["api"]["socketGroup"] = "nogroup"  # nobody's own group
        self.agents.append(a)
        return a

    def test_runs_as_nobody_with_three_capabilities(self):
        a = self.unprivileged()
        a.start()
        status = open(f"/proc/{self.agent_pid(a)}/status").read()
        print([l for l in status.splitlines() if l.startswith(("Uid", "CapEff"))], flush=True)
        self.assertRegex(status, rf"Uid:\s+{NOBODY}\s+{NOBODY}")
        self.assertConnects(self.lab.tcp(SRV4, 8001), "rule accept, decided by the agent")
        self.assertFails(self.lab.tcp(SRV4, 8009, timeout=1.5), "default drop")
        st = a.stats()
        self.assertGreater(st["SENT_UP"], 0, f"connections went through the agent: {st}")
        self.assertEqual(a.stop(), 0, a.log())
        # The flow-cache writer (a syscall BPF program) needs no capability beyond these three.
        self.assertNotIn("flow-cache writes use BPF_MAP_UPDATE_BATCH", a.log())
        self.assertEqual(self.lab.tc_filters(), [], "detached on exit")
        self.assertEqual(self.lab.compat_rules(), [], "queue rule removed on exit")

    def test_missing_capability_is_named(self):
        a = self.unprivileged(caps="net_admin,perfmon")
        a.write_config()
        a.start(wait=False)
        rc = a.proc.wait(20)
        self.assertNotEqual(rc, 0, a.log())
        self.assertRegex(a.log(), r"lacks CAP_BPF")
        self.assertNotRegex(a.log(), r"run nfr-agent as root \(needs")

    def agent_pid(self, a):
        """The agent's pid (setpriv and env exec into it, nsenter forks it)."""
        r = subprocess.run(["pgrep", "-P", str(a.proc.pid)], capture_output=True, text=True)
        pids = r.stdout.split()
        return int(pids[0]) if pids else a.proc.pid


if __name__ == "__main__":
    harness.main()
