#!/usr/bin/env python3
"""Compat mode on a stock kernel (VM tier, issue 14; guest/agent_suite.sh --mode compat runs it
first): with mode auto the agent chooses compat by itself, says why and which netfilter backend
holds its one queue rule, and a selected connection goes up through that rule. Prints one
"AGENT-MODE kernel=R ..." line with the agent's start line."""
import os
import platform
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
import harness  # noqa: E402
from harness import SRV4, SRV6, rule  # noqa: E402


class CompatChoice(harness.LabTestCase):

    def test_agent_chooses_compat_and_says_why(self):
        a = self.agent([rule("web", "accept", "tcp", 8001)], default="drop").start()
        line = re.search(r"nfr-agent: mode=.*", a.log()).group(0)
        print(f"AGENT-MODE kernel={platform.release()} {line}", flush=True)
        self.assertEqual(a.mode(), "compat", a.log())
        if not harness.native_capable():
            self.assertEqual(a.compat_reason(), "kernel lacks tc_nf_redirect", a.log())
        self.assertRegex(line, r"compat backend \S+", "the start line names the rule's backend")
        rules = self.lab.compat_rules()
        self.assertTrue(rules, "no queue rule in the router namespace")
        before = a.stats()
        self.assertConnects(self.lab.tcp(SRV4, 8001), "IPv4 TCP by rule")
        self.assertConnects(self.lab.tcp(SRV6, 8001), "IPv6 TCP by rule")
        self.assertFails(self.lab.tcp(SRV4, 8002, timeout=2), "TCP to the default (drop)")
        d = harness.delta(a.stats(), before)
        self.assertGreaterEqual(d["TO_COMPAT"], 3, d)
        self.assertEqual(d["TO_NATIVE"], 0, d)


if __name__ == "__main__":
    os.environ.setdefault("NFR_IT_MODE", "compat")
    harness.MODE, harness.EXPECT_COMPAT = "compat", True
    harness.main()
