"""nfr-fleetd under load: a link-protocol load generator (bench/fleet_link_load.cc) holds
--links streams (default 2000), each with its own agent certificate; the benchmark prints the
gateway's RSS with every link attached and the time for rollouts to reach every link (the
gateway's elapsed time and the per-link p50/p99 latency). Targets (issue 11): rollout to 2,000
links <= 2 s p99, gateway <= 300 MiB RSS.

Run as root: `ninja -C build nfr-fleetd nfrctl fleet_link_load && python3 bench/fleet_links.py`
(under `flock /work/bench.lock` on shared machines). Everything runs in one namespace of its own.
"""
import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402
import fleet_lab  # noqa: E402
from bench_lib import memory_detail, pct, rss_kib  # noqa: E402


def agent_certs(pki, n, out):
    """n EC leaf certificates load-NNNNN signed by the fleet CA (python cryptography: fast)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    ca_cert = x509.load_pem_x509_certificate((pki.dir / "fleet-ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki.dir / "fleet-ca.key").read_bytes(), None)
    out.mkdir(exist_ok=True)
    now = datetime.datetime.utcnow()
    for i in range(n):
        name = f"load-{i:05d}"
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .sign(ca_key, hashes.SHA256()))
        (out / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (out / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    build = ROOT / "build"
    ap.add_argument("--links", type=int, default=2000)
    ap.add_argument("--rollouts", type=int, default=5)
    ap.add_argument("--fleetd", default=str(build / "fleetd/nfr-fleetd"))
    ap.add_argument("--ctl", default=str(build / "ctl/nfrctl"))
    ap.add_argument("--load", default=str(build / "bench/fleet_link_load"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (creates a namespace)")
    os.environ["NFR_FLEETD"] = os.path.abspath(args.fleetd)
    os.environ["NFR_CTL"] = os.path.abspath(args.ctl)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2 * args.links + 256:
        sys.exit(f"bench: the open-file limit {hard} is below {2 * args.links + 256}; raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix="nfr-fleet-bench-")
    net = fleet_lab.GatewayNet().up()
    load = None
    try:
        pki = fleet_lab.Pki(work)
        for ca in ("fleet-ca", "controller-ca"):
            pki.ca(ca)
        op = pki.leaf("controller-ca", "/OU=nfr-admin/CN=operator", name="operator")
        t = time.monotonic()
        agent_certs(pki, args.links, pki.dir / "load")
        print(f"certificates: {args.links} in {time.monotonic() - t:.1f}s")
        gw = fleet_lab.Fleetd(net, work, pki)
        gw.config["statusIntervalSeconds"] = 60
        gw.start()
        t = time.monotonic()
        load = net.lab.popen(net.ns, [args.load, f"{fleet_lab.GW_ADDR}:{fleet_lab.LINK_PORT}",
                                      fleet_lab.SERVER_NAME, str(pki.ca("fleet-ca")),
                                      str(pki.dir / "load"), str(args.links)],
                             stdout=subprocess.PIPE, text=True)
        line = load.stdout.readline().strip()
        print(f"links: {line} in {time.monotonic() - t:.1f}s; gateway {memory_detail(gw.proc.pid)}"
              f" (load {os.getloadavg()[0]:.1f})")

        def ctl(*argv):
            base = [args.ctl, "--target", f"{fleet_lab.GW_ADDR}:{fleet_lab.API_PORT}", "--ca",
                    str(pki.ca("controller-ca")), "--cert", str(op[0]), "--key", str(op[1]),
                    "--server-name", fleet_lab.SERVER_NAME]
            return harness.run(harness.Lab.nsenter(net.ns) + base + list(argv), timeout=120,
                               check=False)

        pol = Path(work) / "p.json"
        pol.write_text(json.dumps({"defaultVerdict": "VERDICT_ACCEPT", "rules": [
            harness.rule("r1", "drop", "tcp", 23)]}))
        for i in range(args.rollouts):
            t = time.monotonic()
            r = ctl("fleet", "rollout", "-f", str(pol), "-o", "json")
            wall = time.monotonic() - t
            out = json.loads(r.stdout or "{}")
            res = out.get("results", [])
            ok = sum(1 for x in res if x.get("ok"))
            lat = [x.get("latency_ms", 0) for x in res]
            print(f"rollout {i + 1}: {ok}/{len(res)} links applied; gateway {out.get('elapsed_ms')} ms"
                  f", nfrctl {wall * 1000:.0f} ms; per-link p50 {pct(lat, 50)} ms p99 "
                  f"{pct(lat, 99)} ms; gateway RSS {rss_kib(gw.proc.pid) / 1024:.1f} MiB "
                  f"(load {os.getloadavg()[0]:.1f})")
    finally:
        if load is not None:
            load.kill()
        net.down()


if __name__ == "__main__":
    main()
