#!/usr/bin/env python3
"""The API's TCP (mTLS) listener under a client that opens connections and never speaks (issue 12):
the agent caps them in the kernel (nftables `ct count`, or iptables connlimit) at
api.limits.max_connections_per_peer per source (an IPv4 address, an IPv6 /64) and max_connections in
all. Connections
over the cap are reset; the agent keeps serving, a freed slot is usable again, and the rules go
with the agent (a SIGKILLed agent's rules go when the next one starts)."""
import json
import os
import re
import signal
import subprocess
import time

import harness
from harness import CtlLabTestCase, CLI4, CLI6, RTR_CLI4, RTR_CLI6, Ctl
from test_api_tls import make_ca, make_cert

PORT = 50561
HOLD = harness.HERE / "tcp_hold.py"
PER_PEER, TOTAL = 3, 5
CLI6_SIBLING = "fd77::3"  # in CLI6's /64
METRICS_PORT = 50562


def kernel_can_count(backend):
    """True when this kernel has what `backend` needs (tried in a throwaway namespace)."""
    ns = f"nfrcap{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        return False
    try:
        if backend == "nftables":
            cmds = [["nft", "add", "table", "inet", "p"],
                    ["nft", "add", "chain", "inet", "p", "c",
                     "{ type filter hook input priority filter ; }"],
                    ["nft", "add", "rule", "inet", "p", "c", "tcp", "dport", "1", "meter", "m",
                     "{", "ip", "saddr", "ct", "count", "over", "1", "}", "reject", "with", "tcp",
                     "reset"]]
        else:
            cmds = [["iptables", "-A", "INPUT", "-p", "tcp", "--syn", "--dport", "1", "-m",
                     "connlimit", "--connlimit-above", "1", "-m", "comment", "--comment", "p",
                     "-j", "REJECT", "--reject-with", "tcp-reset"]]
        return all(subprocess.run(["ip", "netns", "exec", ns] + c,
                                  capture_output=True).returncode == 0 for c in cmds)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class ApiTcpCapTest(CtlLabTestCase):
    TCP_PORTS = ()
    UDP_PORTS = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lab.run(cls.lab.cli, ["ip", "addr", "add", "10.77.0.3/24", "dev", "c0"], check=True)
        cls.lab.run(cls.lab.cli, ["ip", "-6", "addr", "add", f"{CLI6_SIBLING}/64", "dev", "c0",
                                  "nodad"], check=True)

    def start_agent(self, backend="TCP_CONNECTION_CAP_AUTO", wait=True):
        d = self.certs = os.path.join(self.workdir, "pki")
        if not os.path.isdir(d):
            os.makedirs(d)
            make_ca(d, "ca")
            make_cert(d, "ca", "server", "/CN=nfr-agent",
                      san=f"IP:{RTR_CLI4},IP:{RTR_CLI6},DNS:localhost")
            make_cert(d, "ca", "admin", "/OU=nfr-admin/CN=it-admin")
        a = self.agent([], default="accept")
        a.config["api"].update({
            "tcpListen": f"[::]:{PORT}",
            "tls": {"certFile": f"{d}/server.pem", "keyFile": f"{d}/server.key",
                    "clientCaFile": f"{d}/ca.pem"},
            # Idle connections stay for the whole test: the cap, not the deadline, bounds them.
            "limits": {"maxConnections": TOTAL, "maxConnectionsPerPeer": PER_PEER,
                       "handshakeTimeoutMs": 60000, "tcpConnectionCap": backend}})
        a.config["metrics"] = {"listen": f"127.0.0.1:{METRICS_PORT}"}
        a.start(wait=wait)
        if wait:
            a.wait_log(r"API TCP connections capped by")
        return a

    def hold(self, addr, count, src=None):
        """COUNT connections from the client namespace; (outcomes, process holding them)."""
        argv = [harness.PYTHON, str(HOLD), addr, str(PORT), str(count)]
        if src:
            argv += ["--src", src]
        p = self.lab.popen(self.lab.cli, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
        line = p.stdout.readline()
        self.assertTrue(line, "tcp_hold.py printed nothing")
        return json.loads(line)["outcomes"], p

    @staticmethod
    def release(p):
        p.stdin.close()
        p.wait(timeout=10)

    def remote_ctl(self, *args):
        d = self.certs
        argv = [harness.ctl_binary(), "--target", f"{RTR_CLI4}:{PORT}", "--ca", f"{d}/ca.pem",
                "--cert", f"{d}/admin.pem", "--key", f"{d}/admin.key", "--timeout", "5s"]
        return self.lab.run(self.lab.cli, argv + list(args), timeout=20)

    def check_ipv6_peer_is_a_64(self):
        """A second address in the client's /64 shares the first one's slots."""
        held = []

        def first_address_fills_its_slots():
            outcomes, p = self.hold(RTR_CLI6, PER_PEER, src=CLI6)
            if outcomes == ["ok"] * PER_PEER:
                held.append(p)
                return True
            self.release(p)  # slots of connections just closed may not be free yet
            return False

        self.wait_until(first_address_fills_its_slots, f"{PER_PEER} IPv6 connections from {CLI6}")
        outcomes, sibling = self.hold(RTR_CLI6, 1, src=CLI6_SIBLING)
        self.release(sibling)
        self.release(held[0])
        self.assertEqual(outcomes, ["refused"], f"{CLI6_SIBLING} is in {CLI6}'s /64")

    @staticmethod
    def resets(agent):
        return int(Ctl(agent).ok("status")[0]["counters"].get("api_tcp_connections_reset", 0))

    def wait_until(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout * harness.TIME_SCALE
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def test_nftables_cap_per_peer_and_total(self):
        if not kernel_can_count("nftables"):
            self.skipTest("this kernel has no nft_connlimit (nftables ct count)")
        a = self.start_agent("TCP_CONNECTION_CAP_NFTABLES")
        pid = a.proc.pid
        tables = self.lab.run(self.lab.rtr, ["nft", "list", "tables", "inet"]).stdout
        self.assertIn(f"nfr_agent_api_{pid}", tables)
        status = Ctl(a).ok("status")[0]
        self.assertEqual(status.get("api_tcp_connection_cap"),
                         f"nftables: {PER_PEER} per source (IPv4 address or IPv6 /64), {TOTAL} "
                         f"in all, port {PORT}")

        # One address: PER_PEER connections, the next is reset by the kernel.
        outcomes, first = self.hold(RTR_CLI4, PER_PEER + 1, src=CLI4)
        self.assertEqual(outcomes, ["ok"] * PER_PEER + ["refused"], "per-address cap")
        r = self.remote_ctl("status")
        self.assertNotEqual(r.returncode, 0, "mTLS client over the per-address cap")
        self.assertIn("TCP connection cap", r.stderr, "nfrctl names the cap")
        # A second address gets what is left of the total.
        outcomes, second = self.hold(RTR_CLI4, PER_PEER, src="10.77.0.3")
        self.assertEqual(outcomes, ["ok"] * (TOTAL - PER_PEER) + ["refused"], "total cap")
        # IPv6 counts against the same total.
        outcomes, v6 = self.hold(RTR_CLI6, 1, src=CLI6)
        self.assertEqual(outcomes, ["refused"], "IPv6 over the total cap")
        self.release(v6)
        # The Unix socket is not behind the cap.
        self.assertEqual(Ctl(a).ok("status")[0]["policy_version"], status["policy_version"])
        # Status counts what the kernel reset: at least the three connections and nfrctl's call.
        self.wait_until(lambda: self.resets(a) >= 4, "api_tcp_connections_reset >= 4")
        self.assertIn("connections reset", Ctl(a).ok("status", json_out=False))
        metrics = self.lab.run(self.lab.rtr, ["curl", "-sf",
                                              f"http://127.0.0.1:{METRICS_PORT}/metrics"]).stdout
        m = re.search(r'^nfr_api_refused_total\{limit="tcp_connection_cap"\} (\d+)', metrics, re.M)
        self.assertTrue(m and int(m.group(1)) >= 4, metrics)

        # Closed connections free their slots; a real mTLS call then gets through.
        self.release(first)
        self.wait_until(lambda: self.remote_ctl("status").returncode == 0,
                        "an mTLS call once the idle connections closed")
        r = self.remote_ctl("-o", "json", "status")
        self.assertEqual(json.loads(r.stdout)["caller_role"], "admin", r.stderr)
        self.release(second)
        self.check_ipv6_peer_is_a_64()

        # A SIGKILLed agent leaves its rules; the next agent removes them once its own are in.
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
        self.assertIn(f"nfr_agent_api_{pid}",
                      self.lab.run(self.lab.rtr, ["nft", "list", "tables", "inet"]).stdout)
        a.start()
        a.wait_log(r"API TCP connections capped by", timeout=20)
        tables = self.lab.run(self.lab.rtr, ["nft", "list", "tables", "inet"]).stdout
        self.assertNotIn(f"nfr_agent_api_{pid}", tables, "the killed agent's table is removed")
        self.assertIn(f"nfr_agent_api_{a.proc.pid}", tables)
        # SIGTERM: the agent removes its own.
        a.stop()
        tables = self.lab.run(self.lab.rtr, ["nft", "list", "tables", "inet"]).stdout
        self.assertNotIn("nfr_agent_api_", tables, "rules removed at exit")

    def test_cap_is_in_before_the_listener_and_goes_when_listening_fails(self):
        if not kernel_can_count("nftables"):
            self.skipTest("this kernel has no nft_connlimit (nftables ct count)")
        squatter = self.lab.popen(self.lab.rtr, [
            harness.PYTHON, "-c",
            "import socket, sys\n"
            "s = socket.socket(socket.AF_INET6)\n"
            f"s.bind(('::', {PORT})); s.listen(); print('bound', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(squatter.stdout.readline().strip(), "bound")
            a = self.start_agent("TCP_CONNECTION_CAP_NFTABLES", wait=False)
            self.assertNotEqual(a.proc.wait(timeout=20 * harness.TIME_SCALE), 0, a.log())
            log = a.log()
            self.assertIn("API TCP connections capped by", log, "the cap goes in first")
            self.assertIn(f"cannot start the gRPC server on [::]:{PORT}", log)
            tables = self.lab.run(self.lab.rtr, ["nft", "list", "tables", "inet"]).stdout
            self.assertNotIn("nfr_agent_api_", tables, "the failed agent's rules are gone")
        finally:
            squatter.stdin.close()
            squatter.wait(timeout=10)

    def test_iptables_connlimit_backend(self):
        if not kernel_can_count("iptables"):
            self.skipTest("this kernel has no xt_connlimit")
        a = self.start_agent("TCP_CONNECTION_CAP_IPTABLES")
        rules = self.lab.run(self.lab.rtr, ["iptables", "-S", "INPUT"]).stdout
        self.assertIn(f'--comment "nfr-agent-api:{a.proc.pid}"', rules)
        self.assertRegex(Ctl(a).ok("status")[0]["api_tcp_connection_cap"],
                         rf"^iptables(-nft|-legacy)?: {PER_PEER} per source \(IPv4")
        outcomes, held = self.hold(RTR_CLI4, PER_PEER + 1, src=CLI4)
        self.assertEqual(outcomes, ["ok"] * PER_PEER + ["refused"], "per-address cap")
        self.release(held)
        self.check_ipv6_peer_is_a_64()
        self.wait_until(lambda: self.resets(a) >= 2, "api_tcp_connections_reset >= 2")

        # A SIGKILLed agent's rules stay until the next agent removes them, in both families.
        pid = a.proc.pid
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
        for binary in ("iptables", "ip6tables"):
            rules = self.lab.run(self.lab.rtr, [binary, "-S", "INPUT"]).stdout
            self.assertIn(f'--comment "nfr-agent-api:{pid}"', rules, binary)
        a.start()
        a.wait_log(r"API TCP connections capped by", timeout=20)
        for binary in ("iptables", "ip6tables"):
            rules = self.lab.run(self.lab.rtr, [binary, "-S", "INPUT"]).stdout
            self.assertNotIn(f'--comment "nfr-agent-api:{pid}"', rules,
                             f"{binary}: the killed agent's rules are removed")
            self.assertIn(f'--comment "nfr-agent-api:{a.proc.pid}"', rules, binary)
        a.stop()
        for binary in ("iptables", "ip6tables"):
            rules = self.lab.run(self.lab.rtr, [binary, "-S", "INPUT"]).stdout
            self.assertNotIn("nfr-agent-api", rules, f"{binary} rules removed at exit")


if __name__ == "__main__":
    harness.main()
