"""Fleet lab: a gateway namespace with a bridge, agent router namespaces wired to it, the
certificates of a fleet CA, a controller CA and a foreign CA (openssl), and nfr-fleetd.

Names follow harness.py (nit<pid>x<n>-rtr|srv) so clean_stale() removes leftovers of a killed run.
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import harness
from harness import Lab, run

GW_ADDR = "10.99.0.1"
LINK_PORT = 48901
API_PORT = 48902
GW_METRICS_PORT = 48903
AGENT_METRICS_PORT = 48904
SERVER_NAME = "gateway.fleet.test"


def fleetd_binary():
    path = os.environ.get("NFR_FLEETD", "")
    if not path or not os.access(path, os.X_OK):
        import unittest
        raise unittest.SkipTest(f"NFR_FLEETD={path!r} is not an executable nfr-fleetd (ctest sets it)")
    return path


class Pki:
    """EC P-256 certificates made with the openssl CLI, as docs/fleet.md shows."""

    def __init__(self, workdir):
        self.dir = Path(workdir) / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _openssl(self, *argv):
        run(["openssl"] + list(argv), check=True)

    def ca(self, name):
        key, crt = self.dir / f"{name}.key", self.dir / f"{name}.crt"
        if not crt.exists():
            self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2",
                          "-subj", f"/CN={name}")
        return crt

    def leaf(self, ca, subject, san=None, name=None):
        name = name or re.sub(r"[^A-Za-z0-9_.-]", "_", subject)
        key, csr, crt = (self.dir / f"{name}.{x}" for x in ("key", "csr", "crt"))
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", str(key), "-out", str(csr), "-subj", subject)
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName=DNS:{san}\n" if san else "basicConstraints=CA:FALSE\n")
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(self.dir / f"{ca}.crt"),
                      "-CAkey", str(self.dir / f"{ca}.key"), "-CAcreateserial", "-out", str(crt),
                      "-days", "2", "-extfile", str(ext))
        return crt, key


class LightRouter:
    """One namespace with a veth pair (r-cli <-> r-cli-p) for an agent that carries no test
    traffic: enough for the agent to attach, cheaper than a full three-namespace lab."""

    def __init__(self):
        self.lab = Lab()
        self.rtr = self.lab.rtr

    def up(self):
        run(["ip", "netns", "add", self.rtr], check=True)
        for argv in (["link", "set", "lo", "up"],
                     ["link", "add", "r-cli", "type", "veth", "peer", "name", "r-cli-p"],
                     ["link", "set", "r-cli", "up"], ["link", "set", "r-cli-p", "up"]):
            run(["ip", "-n", self.rtr] + argv, check=True)
        return self

    def popen(self, ns, argv, **kw):
        return self.lab.popen(ns, argv, **kw)

    def down(self):
        for p in self.lab._procs:
            harness.stop_process(p)
        run(["ip", "netns", "del", self.rtr], check=False)


class GatewayNet:
    """The gateway namespace: bridge fbr at 10.99.0.1/24; every router joins with a veth."""

    def __init__(self):
        self.lab = Lab()
        self.ns = self.lab.srv
        self.joined = 0

    def up(self):
        run(["ip", "netns", "add", self.ns], check=True)
        # A fixed bridge MAC: otherwise it follows the lowest port MAC, changes as routers join,
        # and every router's ARP entry for the gateway goes stale (links die by keepalive).
        for argv in (["link", "set", "lo", "up"],
                     ["link", "add", "fbr", "address", "02:00:0a:63:00:01", "type", "bridge"],
                     ["link", "set", "fbr", "up"], ["addr", "add", f"{GW_ADDR}/24", "dev", "fbr"]):
            run(["ip", "-n", self.ns] + argv, check=True)
        return self

    def join(self, rtr_ns, index, gateway_side=True):
        """Links `rtr_ns` to the bridge; returns its address 10.99.<hi>.<lo>."""
        self.joined += 1
        port = f"fp{self.joined}"
        run(["ip", "-n", self.ns, "link", "add", port, "type", "veth", "peer", "name", "fl0",
             "netns", rtr_ns], check=True)
        run(["ip", "-n", self.ns, "link", "set", port, "master", "fbr", "up"], check=True)
        addr = f"10.99.0.{10 + index}"
        run(["ip", "-n", rtr_ns, "addr", "add", f"{addr}/24", "dev", "fl0"], check=True)
        run(["ip", "-n", rtr_ns, "link", "set", "fl0", "up"], check=True)
        return addr

    def down(self):
        for p in self.lab._procs:
            harness.stop_process(p)
        run(["ip", "netns", "del", self.ns], check=False)


class Fleetd:
    """nfr-fleetd in the gateway namespace."""

    def __init__(self, net, workdir, pki):
        self.net = net
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "fleetd.log"
        self.config_path = self.workdir / "fleetd.json"
        gw_crt, gw_key = pki.leaf("fleet-ca", f"/CN={SERVER_NAME}", san=SERVER_NAME, name="gateway")
        ctl_gw_crt, ctl_gw_key = pki.leaf("controller-ca", f"/CN={SERVER_NAME}", san=SERVER_NAME,
                                          name="gateway-api")
        self.config = {
            "name": "gw-test",
            "linkListen": f"{GW_ADDR}:{LINK_PORT}",
            "linkTls": {"certFile": str(gw_crt), "keyFile": str(gw_key),
                        "clientCaFile": str(pki.ca("fleet-ca"))},
            "apiListen": f"{GW_ADDR}:{API_PORT}",
            "apiTls": {"certFile": str(ctl_gw_crt), "keyFile": str(ctl_gw_key),
                       "clientCaFile": str(pki.ca("controller-ca"))},
            "roleBindings": [{"identity": "cert:operator-b", "role": "ROLE_ADMIN",
                              "selector": "site=b"}],
            "dbPath": str(self.workdir / "fleetd.db"),
            "metrics": {"listen": f"{GW_ADDR}:{GW_METRICS_PORT}"},
            "statusIntervalSeconds": 2,
        }
        self.proc = None
        self.starts = 0

    def start(self):
        self.config_path.write_text(json.dumps(self.config, indent=2))
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"---- start #{self.starts}\n")
            log.flush()
            env = dict(os.environ, GRPC_VERBOSITY="ERROR")
            self.proc = self.net.lab.popen(self.net.ns, [fleetd_binary(),
                                                         f"--config={self.config_path}"],
                                           stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if f"start #{self.starts}" in self.log() and re.search(
                    r"serving links on", self.log().split(f"start #{self.starts}")[-1]):
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"nfr-fleetd exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError("nfr-fleetd printed no start line:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
