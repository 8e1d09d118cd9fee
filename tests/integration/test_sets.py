#!/usr/bin/env python3
"""Named sets (issue 9): a set change by delta (nfrctl set add|rm|import) takes effect on real
traffic through the lab router, and is a new policy version."""

import harness
from harness import CtlLabTestCase, SRV4, Ctl, rule

PORT = 8007


class SetsTest(CtlLabTestCase):

    def test_a_set_change_takes_effect_on_traffic(self):
        a = self.agent([rule("blocklist", "drop", dstSet="block"),
                        rule("web", "accept", "tcp", PORT)], default="drop",
                       policy={"sets": {"block": {"prefixes": ["192.0.2.0/24"]}},
                               "flowTtlSeconds": 2}).start()
        ctl = Ctl(a)
        self.assertConnects(self.lab.tcp(SRV4, PORT), "before: the server is not in the set")
        out = ctl.ok("set", "add", "block", f"{SRV4}/32")
        self.assertEqual(out[0]["added"], 1, out)
        self.assertFails(self.lab.tcp(SRV4, PORT, timeout=2), "the server's address was added")
        ctl.ok("set", "rm", "block", SRV4)
        self.assertConnects(self.lab.tcp(SRV4, PORT), "the address was removed again")
        version = ctl.ok("policy", "get")[0]["version"]
        self.assertEqual(int(version), 3, "each set change is a policy version")
        print("set add/rm took effect on the next connection")


if __name__ == "__main__":
    harness.main()
