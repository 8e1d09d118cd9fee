#!/usr/bin/env python3
"""API over TCP with mTLS: certificates generated at test time; roles from the client certificate
(OU=nfr-viewer / nfr-decider / nfr-admin); refused calls say which role is missing."""
import os
import subprocess

import harness
from harness import CtlLabTestCase, SRV4, rule

PORT = 50551


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", "-days", "1",
            cwd=d)


def make_cert(d, ca, name, subject, san=None):
    req = ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject]
    if san:
        req += ["-addext", f"subjectAltName={san}"]
    openssl(*req, cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-copy_extensions", "copyall",
            cwd=d)


class ApiTlsTest(CtlLabTestCase):
    TCP_PORTS = (8001,)
    UDP_PORTS = ()

    def setUp(self):
        super().setUp()
        d = self.certs = os.path.join(self.workdir, "pki")
        os.makedirs(d)
        make_ca(d, "ca")
        make_ca(d, "rogue-ca")
        make_cert(d, "ca", "server", "/CN=nfr-agent", san="IP:127.0.0.1,DNS:localhost")
        for role in ("viewer", "decider", "admin"):
            make_cert(d, "ca", role, f"/OU=nfr-{role}/CN=it-{role}")
        make_cert(d, "ca", "nobody", "/CN=it-nobody")
        make_cert(d, "rogue-ca", "rogue", "/OU=nfr-admin/CN=it-rogue")
        self.a = self.agent([rule("ask-web", "ask", "tcp", 8001)],
                            policy={"pendingTimeoutMs": 6000})
        self.a.config["api"].update({
            "tcpListen": f"127.0.0.1:{PORT}",
            "tls": {"certFile": f"{d}/server.pem", "keyFile": f"{d}/server.key",
                    "clientCaFile": f"{d}/ca.pem"}})
        self.a.start()

    def ctl(self, who, *args, ca="ca"):
        """nfrctl in the router namespace (where the agent listens) with WHO's certificate."""
        d = self.certs
        argv = [harness.ctl_binary(), "--target", f"127.0.0.1:{PORT}", "--ca", f"{d}/{ca}.pem",
                "--cert", f"{d}/{who}.pem", "--key", f"{d}/{who}.key", "--timeout", "5s"]
        return self.lab.run(self.lab.rtr, argv + list(args), timeout=20)

    def assertDenied(self, r, role, what):
        self.assertEqual(r.returncode, 4, f"{what}: exit code (4 = permission denied)\n{r.stderr}")
        self.assertRegex(r.stderr, rf"needs role {role}", f"{what}: names the missing role")

    def test_roles_from_client_certificates(self):
        add_rule = ["policy", "add-rule", "--id", "tls-rule", "--action", "accept",
                    "--protocol", "tcp", "--dport", "8002"]
        # viewer: read only
        r = self.ctl("viewer", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("viewer", r.stdout)
        self.assertEqual(self.ctl("viewer", "policy", "get").returncode, 0)
        self.assertDenied(self.ctl("viewer", "decide", "1", "accept"), "decider", "viewer decides")
        self.assertDenied(self.ctl("viewer", *add_rule), "admin", "viewer adds a rule")
        # decider: decides a real held connection, cannot change the policy
        client = self.lab.tcp_async(SRV4, 8001, timeout=10)
        pending = self.a.wait_log(r"pending (\d+) tcp .*:8001 ").group(1)
        r = self.ctl("decider", "decide", pending, "accept", "--reason", "tls decider")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertConnects(self.lab.result(client), "held connection accepted over mTLS")
        self.assertDenied(self.ctl("decider", *add_rule), "admin", "decider adds a rule")
        # admin: policy changes
        r = self.ctl("admin", *add_rule)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("tls-rule", self.ctl("viewer", "policy", "get").stdout)
        # the decider identity from the certificate is in the decision log
        r = self.ctl("viewer", "-o", "json", "decisions", "list")
        self.assertIn("it-decider", r.stdout)
        # a certificate without a role gets nothing
        self.assertDenied(self.ctl("nobody", "status"), "viewer", "certificate without OU")

    def test_untrusted_client_certificate_is_refused(self):
        r = self.ctl("rogue", "status")
        self.assertEqual(r.returncode, 2, f"handshake with an unknown CA fails\n{r.stdout}{r.stderr}")
        before = self.ctl("admin", "-o", "json", "policy", "get").stdout
        r = self.ctl("rogue", "policy", "add-rule", "--id", "rogue", "--action", "accept")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.ctl("admin", "-o", "json", "policy", "get").stdout, before)


if __name__ == "__main__":
    harness.main()
