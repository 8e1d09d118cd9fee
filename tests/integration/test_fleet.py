"""Fleet (issue 11): real nfr-agents dial one real nfr-fleetd over mTLS from their own router
namespaces. Rollout to every agent, a held connection decided through the gateway, metrics, the
gateway killed and back (enforcement holds, decisions uploaded exactly once, reconnect times),
refused links (foreign CA both ways, a claimed id), and an agent behind masquerading NAT.

NFR_IT_FLEET_AGENTS sets the number of agents (default 20). One agent (agent-07, or the last when
there are fewer) sits in a full three-namespace lab and carries traffic; the others attach to a
veth pair in a namespace of their own.
"""
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest
from datetime import datetime, timezone
from pathlib import Path

import harness
from harness import Agent, Lab, default_config, rule, run, ctl_binary, SRV4
from fleet_lab import (API_PORT, AGENT_METRICS_PORT, GW_ADDR, GW_METRICS_PORT, LINK_PORT,
                       SERVER_NAME, Fleetd, GatewayNet, LightRouter, Pki, fleetd_binary)

N = int(os.environ.get("NFR_IT_FLEET_AGENTS", "20"))
HELD = min(7, N)  # the agent in the full lab
BACKOFF_MAX_MS = 2000
ASK_PORT, OPEN_PORT = 8080, 8081
PENDING_TIMEOUT_MS = 3000


def agent_id(i):
    return f"agent-{i:02d}"


def drain(p):
    """Ends a watch and returns what it printed that was not read yet."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    out = p.stdout.read()
    p.wait(10)
    return out


def parse_time(s):
    s = re.sub(r"(\.\d{6})\d*", r"\1", s.rstrip("Z"))
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()


def prom_families(text):
    """Parses Prometheus text with prometheus_client when installed (Debian:
    python3-prometheus-client), else a strict line check of the 0.0.4 format."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None
    if text_string_to_metric_families:
        out = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out.setdefault(s.name, []).append((s.labels, s.value))
        return out
    out, typed = {}, set()
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                        r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.e+]+|NaN)$')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge"), line
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = sample.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        assert m.group(1) in typed, f"sample before its TYPE: {line!r}"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(5))))
    return out


class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.agent_binary()
        fleetd_binary()
        if not ctl_binary():
            raise unittest.SkipTest("NFR_CTL is not set (ctest sets it)")
        harness.ensure_bpffs()
        harness.clean_stale()
        cls.workdir = tempfile.mkdtemp(prefix="nfr-fleet-")
        cls.routers, cls.agents = [], []
        cls.net = None
        try:
            cls._build()
        except Exception:
            cls._teardown()
            raise

    @classmethod
    def _build(cls):
        t0 = time.monotonic()
        cls.pki = Pki(cls.workdir)
        for ca in ("fleet-ca", "controller-ca", "foreign-ca"):
            cls.pki.ca(ca)
        cls.op = cls.pki.leaf("controller-ca", "/OU=nfr-admin/CN=operator", name="operator")
        cls.op_b = cls.pki.leaf("controller-ca", "/CN=operator-b", name="operator-b")
        cls.net = GatewayNet().up()
        cls.gw = Fleetd(cls.net, cls.workdir, cls.pki).start()
        t_pki = time.monotonic() - t0
        t1 = time.monotonic()
        for i in range(1, N + 1):
            if i == HELD:
                r = Lab().up()
                r.start_servers([ASK_PORT, OPEN_PORT])
            else:
                r = LightRouter().up()
            cls.routers.append(r)
            addr = cls.net.join(r.rtr, i)
            crt, key = cls.pki.leaf("fleet-ca", f"/CN={agent_id(i)}", name=agent_id(i))
            a = Agent(r, cls.workdir, name=agent_id(i))
            a.config["controller"] = {
                "target": f"{GW_ADDR}:{LINK_PORT}", "caFile": str(cls.pki.ca("fleet-ca")),
                "certFile": str(crt), "keyFile": str(key), "serverName": SERVER_NAME,
                "labels": {"site": "a" if i % 2 else "b", "n": str(i)},
                "backoffInitialMs": 200, "backoffMaxMs": BACKOFF_MAX_MS, "keepaliveSeconds": 1,
                "statusIntervalSeconds": 2}
            if i == HELD:
                a.config["metrics"] = {"listen": f"{addr}:{AGENT_METRICS_PORT}",
                                       "textfile": str(Path(cls.workdir) / "agent.prom"),
                                       "textfileIntervalSeconds": 1}
                cls.held_addr = addr
            a.start(wait=False)
            cls.agents.append(a)
        t_net = time.monotonic() - t1
        for a in cls.agents:
            a.wait_started(timeout=60)
        cls.held = cls.agents[HELD - 1]
        cls.held_lab = cls.routers[HELD - 1]
        connected = cls.wait_connected(N, timeout=60)
        print(f"\nfleet: {N} agents; certs+gateway {t_pki:.1f}s, namespaces+starts "
              f"{t_net:.1f}s, all {N} attached {time.monotonic() - t1:.1f}s after the first "
              f"start (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        assert len(connected) == N

    @classmethod
    def _teardown(cls):
        for a in cls.agents:
            a.cleanup()
        for r in cls.routers:
            r.down()
        if cls.net:
            cls.net.down()
        if not os.environ.get("NFR_IT_KEEP"):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    # --- helpers ---------------------------------------------------------------------------------

    @classmethod
    def ctl(cls, *argv, who="operator", agent=None, check=True, timeout=40):
        crt, key = cls.op if who == "operator" else cls.op_b
        base = [ctl_binary(), "--target", f"{GW_ADDR}:{API_PORT}", "--ca",
                str(cls.pki.ca("controller-ca")), "--cert", str(crt), "--key", str(key),
                "--server-name", SERVER_NAME]
        if agent:
            base += ["--agent", agent]
        r = run(Lab.nsenter(cls.net.ns) + base + list(argv), timeout=timeout, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"nfrctl {' '.join(argv)} exited {r.returncode}: {r.stderr}{r.stdout}")
        return r

    @classmethod
    def fleet(cls):
        r = cls.ctl("fleet", "ls", "-o", "json")
        return json.loads(r.stdout or "{}").get("agents", [])

    @classmethod
    def wait_connected(cls, n, timeout):
        deadline = time.monotonic() + timeout
        while True:
            up = [g for g in cls.fleet() if g.get("connected")]
            if len(up) >= n or time.monotonic() > deadline:
                return up
            time.sleep(0.2)

    def local(self, agent, *argv):
        r = run([ctl_binary(), "--target", f"unix://{agent.socket}"] + list(argv), timeout=20,
                check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def local_decisions(self, agent):
        out = self.local(agent, "decisions", "list", "--limit", "5000", "-o", "json")
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def scrape(self, ns, addr, port):
        r = run(Lab.nsenter(ns) + ["curl", "-sf", f"http://{addr}:{port}/metrics"], timeout=10,
                check=False)
        self.assertEqual(r.returncode, 0, f"curl metrics on {addr}:{port}: {r.stderr}")
        return prom_families(r.stdout)

    # --- tests (in name order; later ones use the state earlier ones leave) -----------------------

    def test_1_rollout_reaches_every_agent(self):
        policy = {"defaultVerdict": "VERDICT_DROP", "pendingTimeoutMs": PENDING_TIMEOUT_MS,
                  "rules": [rule("ask-web", "ask", "tcp", ASK_PORT),
                            rule("open", "accept", "tcp", OPEN_PORT)]}
        pf = Path(self.workdir) / "policy.json"
        pf.write_text(json.dumps(policy))
        t = time.monotonic()
        r = self.ctl("fleet", "rollout", "-f", str(pf), "--comment", "it", "-o", "json")
        wall = time.monotonic() - t
        out = json.loads(r.stdout)
        self.assertEqual(len(out["results"]), N, out)
        versions = {}
        for res in out["results"]:
            self.assertTrue(res.get("ok"), res)
            versions[res["agent_id"]] = int(res["applied_version"])
        for i, a in enumerate(self.agents, 1):
            st = json.loads(self.local(a, "status", "-o", "json"))
            self.assertEqual(int(st["policy_version"]), versions[agent_id(i)], agent_id(i))
        lat = sorted(res.get("latency_ms", 0) for res in out["results"])
        print(f"\nfleet rollout to {N} agents: {out.get('elapsed_ms', 0)} ms at the gateway, "
              f"{wall * 1000:.0f} ms for nfrctl; per-agent p50 {lat[len(lat) // 2]} ms, max "
              f"{lat[-1]} ms (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        # Expected-version guard on the group policy.
        bad = self.ctl("fleet", "rollout", "-f", str(pf), "--expected-version", "0", check=False)
        self.assertEqual(bad.returncode, 6, bad.stderr)
        self.assertIn("group policy", bad.stderr)
        # A controller scoped to site=b reaches only site=b agents.
        r = self.ctl("fleet", "rollout", "-f", str(pf), "-o", "json", who="operator-b")
        ids = sorted(x["agent_id"] for x in json.loads(r.stdout)["results"])
        self.assertEqual(ids, [agent_id(i) for i in range(2, N + 1, 2)])
        table = self.ctl("fleet", "ls", "--selector", "site=b").stdout.splitlines()
        self.assertRegex(table[0], r"^AGENT +LINK +LABELS")
        self.assertEqual(len(table) - 1, N // 2, table)
        self.assertTrue(all(re.match(r"agent-\d\d +up +n=\d+,site=b ", l) for l in table[1:]), table)
        status = self.ctl("status", agent=agent_id(2)).stdout
        self.assertRegex(status, rf"policy: +version {versions[agent_id(2)] + 1}")
        self.assertRegex(status, r"you: +fleet:gw-test/cert:operator \(admin\)")
        self.assertRegex(status, rf"link: +{GW_ADDR}:{LINK_PORT} up since .* \(gateway gw-test\)")
        denied = self.ctl("status", who="operator-b", agent=agent_id(1), check=False)
        self.assertEqual(denied.returncode, 4, denied.stderr)
        self.assertIn("outside the scope", denied.stderr)

    def gw_watch(self, *argv, agent=None):
        base = [ctl_binary(), "--target", f"{GW_ADDR}:{API_PORT}", "--ca",
                str(self.pki.ca("controller-ca")), "--cert", str(self.op[0]), "--key",
                str(self.op[1]), "--server-name", SERVER_NAME]
        if agent:
            base += ["--agent", agent]
        return self.net.lab.popen(self.net.ns, base + list(argv),
                                  stdout=__import__("subprocess").PIPE, text=True)

    def test_2_held_connection_decided_through_gateway(self):
        hid = agent_id(HELD)
        watch = self.gw_watch("fleet", "watch")
        # Per-agent watches through the gateway apply the request's filter.
        near = self.gw_watch("pending", "watch", "--prefix", f"{SRV4}/32", agent=hid)
        far = self.gw_watch("pending", "watch", "--prefix", "203.0.113.9/32", agent=hid)
        accepts = self.gw_watch("decisions", "watch", "--verdict", "accept", "-o", "json",
                                agent=hid)
        drops = self.gw_watch("decisions", "watch", "--verdict", "drop", "-o", "json", agent=hid)
        watchers = [watch, near, far, accepts, drops]
        try:
            for w in (watch, near, far):
                self.assertRegex(w.stdout.readline(), r"snapshot \d+ pending")
            conn = self.held_lab.tcp_async(SRV4, ASK_PORT, timeout=10)
            line = watch.stdout.readline()
            m = re.match(rf"{hid} added (\d+) tcp .*:{ASK_PORT}", line)
            self.assertTrue(m, f"fleet watch line {line!r}")
            pid = m.group(1)
            self.assertRegex(near.stdout.readline(), rf"^added {pid} tcp ")
            t = time.monotonic()
            self.ctl("decide", pid, "accept", "--reason", "via gateway", agent=hid)
            res = Lab.result(conn)
            self.assertTrue(res.get("ok"), res)
            print(f"\nfleet decide through the gateway: {1000 * (time.monotonic() - t):.0f} ms to "
                  f"the completed connection", file=sys.stderr)
            self.assertRegex(watch.stdout.readline(), rf"{hid} resolved {pid} accept")
            self.assertRegex(near.stdout.readline(), rf"^resolved {pid} accept")
            seen = []
            while not any(e.get("decision", {}).get("reason") == "via gateway" for e in seen):
                self.assertLess(len(seen), 50, seen)
                seen.append(json.loads(accepts.stdout.readline()))
            self.assertTrue(all(e["decision"]["verdict"] == "VERDICT_ACCEPT" for e in seen), seen)
            far_out, drops_out = drain(far), drain(drops)
        finally:
            for w in watchers:
                harness.stop_process(w)
        self.assertNotIn("added", far_out)
        self.assertNotIn("via gateway", drops_out)
        logged = self.local_decisions(self.held)
        mine = [d for d in logged if d.get("reason") == "via gateway"]
        self.assertEqual(len(mine), 1, logged)
        self.assertIn("fleet:gw-test/cert:operator", mine[0].get("decider", ""))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            up = json.loads(self.ctl("fleet", "decisions", hid, "-o", "json").stdout or "{}")
            if any(d["id"] == mine[0]["id"] for d in up.get("decisions", [])):
                break
            time.sleep(0.2)
        else:
            self.fail(f"decision {mine[0]['id']} never reached the gateway")

    def test_3_metrics_parse_and_move(self):
        ns = self.held_lab.rtr
        before = self.scrape(ns, self.held_addr, AGENT_METRICS_PORT)
        self.assertTrue(self.held_lab.tcp(SRV4, OPEN_PORT).get("ok"))
        after = self.scrape(ns, self.held_addr, AGENT_METRICS_PORT)
        val = lambda fam, name, **lab: sum(v for l, v in fam.get(name, [])
                                           if all(l.get(k) == x for k, x in lab.items()))
        self.assertGreater(val(after, "nfr_packets_queued_total"),
                           val(before, "nfr_packets_queued_total"))
        self.assertGreater(val(after, "nfr_verdicts_total", source="policy", verdict="accept"),
                           val(before, "nfr_verdicts_total", source="policy", verdict="accept"))
        self.assertEqual(val(after, "nfr_link_connected"), 1)
        for name in ("nfr_pending", "nfr_flow_cache_hits_total", "nfr_queue_overflow_total"):
            self.assertIn(name, after)
        # The node-exporter textfile: the same families, rewritten every second.
        text = prom_families((Path(self.workdir) / "agent.prom").read_text())
        self.assertEqual(sorted(text), sorted(after))
        gw = self.scrape(self.net.ns, GW_ADDR, GW_METRICS_PORT)
        self.assertEqual(val(gw, "nfr_fleet_agents_connected"), N)
        self.assertGreater(val(gw, "nfr_fleet_decisions_uploaded_total"), 0)

    def test_4_gateway_killed_and_back(self):
        a = self.held
        self.gw.kill()
        a.wait_log(r"link to .* lost", timeout=10)
        # Enforcement holds: the policy accepts, an ASK gets the default verdict (drop).
        self.assertTrue(self.held_lab.tcp(SRV4, OPEN_PORT).get("ok"))
        held = self.held_lab.tcp(SRV4, ASK_PORT, timeout=PENDING_TIMEOUT_MS / 1000 + 3)
        self.assertFalse(held.get("ok"), held)
        time.sleep(0.5)
        t0 = time.time()
        self.gw.start()
        up = self.wait_connected(N, timeout=BACKOFF_MAX_MS / 1000 * 1.2 + 15)
        self.assertEqual(len(up), N, [g["id"] for g in up])
        back = sorted((parse_time(g["connected_since"]) - t0, g["id"]) for g in up)
        print(f"\nfleet reconnect after the gateway returned (backoff max {BACKOFF_MAX_MS} ms): "
              + ", ".join(f"{i} {d:.2f}s" for d, i in back)
              + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        self.assertLess(back[-1][0], BACKOFF_MAX_MS / 1000 * 1.2 + 5)
        # Every decision of the agent's log is at the gateway exactly once.
        logged = {int(d["id"]) for d in self.local_decisions(a)}
        self.assertLess(len(logged), 5000)
        deadline = time.monotonic() + 10
        while True:
            up = json.loads(self.ctl("fleet", "decisions", agent_id(HELD), "--limit", "10000",
                                     "-o", "json").stdout or "{}")
            ids = [int(d["id"]) for d in up.get("decisions", [])]
            if set(ids) >= logged or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), logged)
        gw = self.scrape(self.net.ns, GW_ADDR, GW_METRICS_PORT)
        self.assertEqual(sum(v for _, v in gw["nfr_fleet_decisions_duplicate_total"]), 0)
        # Every agent already held its group policy: none was applied again on attach.
        self.assertNotRegex(self.gw.log(), r"catch-up")

    def test_5_refused_links(self):
        cases = []
        foreign_crt, foreign_key = self.pki.leaf("foreign-ca", "/CN=agent-foreign",
                                                 name="agent-foreign")
        liar_crt, liar_key = self.pki.leaf("fleet-ca", "/CN=agent-liar", name="agent-liar")
        ok_crt, ok_key = self.pki.leaf("fleet-ca", "/CN=agent-wrongca", name="agent-wrongca")
        for name, crt, key, ca, claim in (
                ("foreign", foreign_crt, foreign_key, "fleet-ca", ""),
                ("liar", liar_crt, liar_key, "fleet-ca", agent_id(1)),
                ("wrongca", ok_crt, ok_key, "foreign-ca", "")):
            r = LightRouter().up()
            self.routers.append(r)
            self.net.join(r.rtr, 200 + len(cases))
            a = Agent(r, self.workdir, name=f"bad-{name}")
            a.config["controller"] = {
                "target": f"{GW_ADDR}:{LINK_PORT}", "caFile": str(self.pki.ca(ca)),
                "certFile": str(crt), "keyFile": str(key), "serverName": SERVER_NAME,
                "agent_id": claim, "backoffInitialMs": 200, "backoffMaxMs": 1000}
            a.start()
            self.agents.append(a)
            cases.append((name, a))
        logs = {name: a.wait_log(r"link to .* failed: .*retrying", timeout=15) and a.log()
                for name, a in cases}
        self.assertRegex(logs["liar"], r"PERMISSION_DENIED.*agent id \"agent-01\" does not match "
                                       r"the certificate CN \"agent-liar\"")
        for name in ("foreign", "wrongca"):
            self.assertRegex(logs[name], r"failed: UNAVAILABLE")
        self.assertRegex(self.gw.log(), r"refused link from .* \(certificate CN agent-liar\): "
                                        r"agent id \"agent-01\" does not match")
        # The TLS refusals are logged by gRPC at the gateway (handshake errors).
        self.assertRegex(self.gw.log(), r"(?i)handshake")
        ids = {g["id"] for g in self.fleet()}
        self.assertFalse(ids & {"agent-foreign", "agent-liar", "agent-wrongca"}, ids)
        self.assertEqual(len([g for g in self.fleet() if g.get("connected")]), N)
        self.assertNotRegex(self.gw.log(), r"attached again", "a link was lost without cause")

    def test_6_agent_behind_nat(self):
        """The agent's namespace reaches the gateway only through a masquerading router: the
        gateway has no route back to it, yet the link carries status, requests and rollouts."""
        nat = NatRouter().up(self.net)
        self.routers.append(nat)
        r = LightRouter().up()
        self.routers.append(r)
        nat.inside(r.rtr)
        crt, key = self.pki.leaf("fleet-ca", "/CN=agent-nat", name="agent-nat")
        a = Agent(r, self.workdir, name="agent-nat")
        a.config["controller"] = {
            "target": f"{GW_ADDR}:{LINK_PORT}", "caFile": str(self.pki.ca("fleet-ca")),
            "certFile": str(crt), "keyFile": str(key), "serverName": SERVER_NAME,
            "labels": {"site": "nat"}, "backoffInitialMs": 200, "backoffMaxMs": 1000}
        a.start()
        self.agents.append(a)
        a.wait_log(r"link up to", timeout=15)
        # No inbound path: the gateway cannot reach the agent's address.
        self.assertNotEqual(run(Lab.nsenter(self.net.ns) + ["ping", "-c1", "-W1",
                                                           NatRouter.INNER_AGENT],
                                check=False).returncode, 0)
        g = [x for x in self.fleet() if x["id"] == "agent-nat"]
        self.assertTrue(g and g[0].get("connected"), g)
        self.assertTrue(g[0]["peer"].startswith(f"ipv4:{nat.outer}:"), g[0]["peer"])
        pf = Path(self.workdir) / "nat-policy.json"
        pf.write_text(json.dumps({"defaultVerdict": "VERDICT_ACCEPT", "rules": []}))
        out = json.loads(self.ctl("fleet", "rollout", "-f", str(pf), "--selector", "site=nat",
                                  "-o", "json").stdout)
        self.assertEqual([(x["agent_id"], x.get("ok")) for x in out["results"]],
                         [("agent-nat", True)])
        st = json.loads(self.ctl("status", "-o", "json", agent="agent-nat").stdout)
        self.assertEqual(int(st["policy_version"]), int(out["results"][0]["applied_version"]))

    def test_7_dead_path_noticed_by_keepalive(self):
        """Packets to and from the gateway black-holed in agent-01's namespace: the agent notices
        by keepalive (1 s pings here, timeout 4 s), and is back once the path returns."""
        a, ns = self.agents[0], self.routers[0].rtr
        nft = Lab.nsenter(ns) + ["nft"]
        run(nft + ["add table inet hft; add chain inet hft out { type filter hook output priority "
                   f"0; }}; add rule inet hft out ip daddr {GW_ADDR} drop; add chain inet hft in "
                   f"{{ type filter hook input priority 0; }}; add rule inet hft in ip saddr "
                   f"{GW_ADDR} drop"], check=True)
        t = time.monotonic()
        try:
            a.wait_log(r"link to .* lost: .*(keepalive|timed out)", timeout=15)
            took = time.monotonic() - t
            print(f"\nfleet dead path noticed after {took:.1f}s (keepalive 1s, timeout 4s; load "
                  f"{os.getloadavg()[0]:.1f})", file=sys.stderr)
            self.assertLess(took, 1 + 4 + 4)
        finally:
            run(nft + ["delete table inet hft"], check=False)
        restored = time.time()
        deadline = time.monotonic() + 10
        while not any(g["id"] == agent_id(1) and g.get("connected") and
                      parse_time(g["connected_since"]) > restored - 0.5 for g in self.fleet()):
            self.assertLess(time.monotonic(), deadline, "agent-01 did not come back")
            time.sleep(0.2)

    def test_8_catch_up_flows_and_sets_through_gateway(self):
        """An agent down during a rollout gets the group policy when it attaches again (guarded
        by its own version, recorded in the rollout history); sets and flows are routed."""
        a, aid = self.agents[2], agent_id(3)
        a.stop()
        deadline = time.monotonic() + 10
        while any(g["id"] == aid and g.get("connected") for g in self.fleet()):
            self.assertLess(time.monotonic(), deadline, f"{aid} still shown connected")
            time.sleep(0.1)
        policy = {"defaultVerdict": "VERDICT_DROP", "pendingTimeoutMs": PENDING_TIMEOUT_MS,
                  "sets": {"block": {"prefixes": ["192.0.2.0/24"]}},
                  "rules": [rule("blocklist", "drop", dstSet="block"),
                            rule("ask-web", "ask", "tcp", ASK_PORT),
                            rule("open", "accept", "tcp", OPEN_PORT)]}
        pf = Path(self.workdir) / "site-a.json"
        pf.write_text(json.dumps(policy))
        r = self.ctl("fleet", "rollout", "-f", str(pf), "--selector", "site=a", "-o", "json",
                     check=False)
        self.assertEqual(r.returncode, 2, f"some agent failed: exit 2; {r.stderr}")
        out = json.loads(r.stdout)
        mine = [x for x in out["results"] if x["agent_id"] == aid]
        self.assertEqual(len(mine), 1, out)
        self.assertFalse(mine[0].get("ok"), mine)
        self.assertIn("when it attaches again", mine[0].get("error", ""))
        t = time.monotonic()
        a.start()
        a.wait_log(r"link up to", timeout=15)
        deadline = time.monotonic() + 10
        while True:
            got = json.loads(self.ctl("policy", "get", "-o", "json", agent=aid).stdout)
            if "block" in got.get("sets", {}):
                break
            self.assertLess(time.monotonic(), deadline, f"{aid} never got the group policy: {got}")
            time.sleep(0.1)
        print(f"\nfleet catch-up: {aid} at the group policy {time.monotonic() - t:.2f}s after its "
              f"restart (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        hist = json.loads(self.ctl("fleet", "rollouts", "-o", "json").stdout).get("rollouts", [])
        caught = [r for r in hist if r.get("author") == "nfr-fleetd catch-up"
                  and f"agent {aid} " in r.get("comment", "")]
        self.assertEqual(len(caught), 1, hist)
        self.assertEqual(caught[0]["selector"], "site=a")
        self.assertEqual(int(caught[0].get("failed", 0)), 0, caught)
        self.assertRegex(self.gw.log(), rf"catch-up \d+: agent {aid} to group \"site=a\" v\d+: "
                                        r"applied as policy v\d+")
        # UpdateSet through the gateway (admin), refused outside the caller's scope.
        r = self.ctl("set", "add", "block", "198.51.100.7/32", agent=aid)
        self.assertIn("1 added", r.stdout)
        self.assertIn("198.51.100.7", self.local(a, "set", "list", "block"))
        denied = self.ctl("set", "add", "block", "198.51.100.8/32", who="operator-b", agent=aid,
                          check=False)
        self.assertEqual(denied.returncode, 4, denied.stderr)
        self.assertIn("outside the scope", denied.stderr)
        # FlowService through the gateway: list, deny (logged as the operator), scope.
        hid = agent_id(HELD)
        self.assertTrue(self.held_lab.tcp(SRV4, OPEN_PORT).get("ok"))
        listed = self.ctl("flows", "list", "-o", "json", agent=hid).stdout
        self.assertIn(str(OPEN_PORT), listed)
        r = self.ctl("flows", "deny", "--prefix", f"{SRV4}/32", "--reason", "fleet deny",
                     agent=hid)
        m = re.match(r"(\d+) denied of (\d+) matching", r.stdout)
        self.assertTrue(m and int(m.group(1)) >= 1, r.stdout)
        ops = [d for d in self.local_decisions(self.held) if d.get("reason") == "fleet deny"]
        self.assertEqual(len(ops), int(m.group(1)), ops)
        self.assertTrue(all("fleet:gw-test/cert:operator" in d.get("decider", "") for d in ops))
        denied = self.ctl("flows", "rm", "--all", who="operator-b", agent=hid, check=False)
        self.assertEqual(denied.returncode, 4, denied.stderr)
        self.assertIn("outside the scope", denied.stderr)


class NatRouter:
    """A masquerading router between one agent namespace (192.168.77.0/24) and the gateway
    bridge; nothing routes back to the inside."""
    INNER, INNER_AGENT = "192.168.77.1", "192.168.77.2"

    def __init__(self):
        self.lab = Lab()
        self.ns = self.lab.cli

    def up(self, net):
        run(["ip", "netns", "add", self.ns], check=True)
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.outer = net.join(self.ns, 240)
        run(Lab.nsenter(self.ns) + ["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        run(Lab.nsenter(self.ns) + ["nft", "add table ip nat; add chain ip nat post { type nat "
                                    "hook postrouting priority 100; }; add rule ip nat post "
                                    "oifname fl0 masquerade"], check=True)
        return self

    def inside(self, rtr_ns):
        run(["ip", "-n", self.ns, "link", "add", "n-in", "type", "veth", "peer", "name", "n-up",
             "netns", rtr_ns], check=True)
        run(["ip", "-n", self.ns, "addr", "add", f"{self.INNER}/24", "dev", "n-in"], check=True)
        run(["ip", "-n", self.ns, "link", "set", "n-in", "up"], check=True)
        run(["ip", "-n", rtr_ns, "addr", "add", f"{self.INNER_AGENT}/24", "dev", "n-up"], check=True)
        run(["ip", "-n", rtr_ns, "link", "set", "n-up", "up"], check=True)
        run(["ip", "-n", rtr_ns, "route", "add", "default", "via", self.INNER], check=True)

    def down(self):
        run(["ip", "netns", "del", self.ns], check=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
