#!/usr/bin/env python3
"""Soak (issue #12; a bench, not CI): a real nfr-agent under mixed load for --minutes (default 30)
— new UDP and TCP flows, held connections decided by controllers, policy and set changes,
watchers coming and going — printing the agent's RSS, open fds and thread count every
--interval seconds. They must stay flat. Not a timed benchmark: machine load does not invalidate
it (run it under nice). Needs root; uses its own lab namespaces.

    sudo NFR_CTL=build/ctl/nfrctl nice -n 10 bench/soak.py --minutes 30
"""
import os
import random
import subprocess
import threading
import time

import bench_lib
import harness
from harness import CLI4, SRV4

TCP_ACCEPT, TCP_ASK, UDP_ACCEPT = 8001, 8002, 9001


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "Threads"):
                out[k] = int(v.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


class Load:
    """Each kind of load on its own thread until stop is set; counts what it did."""

    def __init__(self, lab, ctl):
        self.lab, self.ctl = lab, ctl
        self.stop = threading.Event()
        self.counts = {k: 0 for k in ("udp_flows", "tcp_flows", "held", "policy_changes",
                                      "set_changes", "watchers", "errors")}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=f, daemon=True) for f in
                        (self.udp_flows, self.tcp_flows, self.held, self.controller,
                         self.policy_changes, self.set_changes, self.watchers)]

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def nfrctl(self, *args, timeout=30):
        r = subprocess.run(self.ctl + list(args), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            self.add("errors")
        return r

    def udp_flows(self):
        first = 20000
        while not self.stop.is_set():
            r = self.lab.run(self.lab.cli, [harness.PYTHON, str(harness.HERE / "udp_flows.py"),
                                            CLI4, SRV4, str(UDP_ACCEPT), str(first), "500"],
                             timeout=60)
            self.add("udp_flows", 500 if r.returncode == 0 else 0)
            first = 20000 if first >= 60000 else first + 500
            self.stop.wait(1)

    def tcp_flows(self):
        while not self.stop.is_set():
            r = self.lab.run(self.lab.cli, [harness.PYTHON, str(harness.NETPROBE), "connect-loop",
                                            SRV4, str(TCP_ACCEPT), "--count", "50"], timeout=60)
            self.add("tcp_flows", 50 if r.returncode == 0 else 0)
            self.stop.wait(1)

    def held(self):
        """Connections the policy holds for a controller (some are decided, some time out)."""
        while not self.stop.is_set():
            procs = [self.lab.tcp_async(SRV4, TCP_ASK, timeout=3) for _ in range(5)]
            for p in procs:
                try:
                    self.lab.result(p, timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                self.lab._procs.remove(p)
            self.add("held", len(procs))
            self.stop.wait(0.5)

    def controller(self):
        """A controller that comes and goes: decides a few, exits, returns."""
        while not self.stop.is_set():
            verdict = random.choice(["accept", "drop"])
            extra = ["--for", "20s"] if random.random() < 0.5 else []
            p = subprocess.Popen(self.ctl + ["pending", "autodecide", verdict, "--count", "10"]
                                 + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=random.uniform(2, 8))
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(10)
            self.stop.wait(random.uniform(0, 2))

    def policy_changes(self):
        n = 0
        while not self.stop.is_set():
            rid = f"soak{n % 20}"
            if self.nfrctl("policy", "add-rule", "--id", rid, "--action", "accept",
                           "--protocol", "udp", "--dport", str(10000 + n % 20)).returncode == 0:
                self.nfrctl("policy", "rm-rule", rid)
                self.add("policy_changes", 2)
            n += 1
            self.stop.wait(0.5)

    def set_changes(self):
        n = 0
        while not self.stop.is_set():
            prefix = f"192.0.{n % 250}.0/24"
            if self.nfrctl("set", "add", "soakset", prefix).returncode == 0:
                self.nfrctl("set", "rm", "soakset", prefix)
                self.add("set_changes", 2)
            n += 1
            self.stop.wait(0.5)

    def watchers(self):
        live = []
        while not self.stop.is_set():
            if len(live) < 8 and random.random() < 0.6:
                live.append(subprocess.Popen(self.ctl + ["-o", "json", "pending", "watch"],
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL))
                self.add("watchers")
            elif live:
                p = live.pop(random.randrange(len(live)))
                p.terminate()
                p.wait(10)
            self.stop.wait(random.uniform(0.2, 2))
        for p in live:
            p.terminate()
            p.wait(10)


def main():
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--ctl", default=os.environ.get("NFR_CTL", str(bench_lib.ROOT / "build/ctl/nfrctl")))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=60, help="seconds between samples")
    ap.add_argument("--prefix", default="nr-", help="lab namespace prefix")
    ap.add_argument("--pin-dir", default="/sys/fs/bpf/nfr-rely")
    ap.add_argument("--queue", type=int, default=5300)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: run as root (creates namespaces, attaches BPF)")
    os.environ["NFR_AGENT"] = os.path.abspath(args.agent)
    harness.ensure_bpffs()
    lab = harness.Lab(prefix=args.prefix).up()
    workdir = bench_lib.tempfile.mkdtemp(prefix="nfr-soak-")
    a = harness.Agent(lab, workdir, pin_dir=args.pin_dir, queue_num=args.queue, name="soak")
    a.config["policy"] = {
        "defaultVerdict": "VERDICT_DROP", "pendingTimeoutMs": 2000, "flowTtlSeconds": 30,
        "sets": {"soakset": {"prefixes": ["198.51.100.0/24"]}},
        "rules": [harness.rule("tcp", "accept", "tcp", TCP_ACCEPT),
                  harness.rule("udp", "accept", "udp", UDP_ACCEPT),
                  harness.rule("held", "ask", "tcp", TCP_ASK),
                  harness.rule("setblock", "drop", srcSet="soakset")]}
    servers = lab.start_servers(tcp=(TCP_ACCEPT, TCP_ASK), udp=(UDP_ACCEPT,))
    load = None
    try:
        a.start()
        pid = a.proc.pid
        load = Load(lab, [args.ctl, "--target", f"unix://{a.socket}"])
        for t in load.threads:
            t.start()
        samples = []
        t0 = time.monotonic()
        print(f"soak: agent pid {pid}, {args.minutes} min, sample every {args.interval:.0f} s",
              flush=True)
        print("minute  rss_kib  fds  threads  load(1m)  done", flush=True)
        while True:
            s = proc_status(pid)
            samples.append(s)
            with load.lock:
                done = dict(load.counts)
            print(f"{(time.monotonic() - t0) / 60:6.1f}  {s['VmRSS']:7d}  {s['fds']:3d}  "
                  f"{s['Threads']:7d}  {os.getloadavg()[0]:8.1f}  {done}", flush=True)
            if not a.running():
                raise SystemExit("soak: the agent died:\n" + a.log()[-4000:])
            if time.monotonic() - t0 >= args.minutes * 60:
                break
            time.sleep(min(args.interval, max(0.0, args.minutes * 60 - (time.monotonic() - t0))))
        first, loaded, last = samples[0], samples[min(1, len(samples) - 1)], samples[-1]
        for name, s in (("first (idle)", first), ("first under load", loaded), ("last", last)):
            print(f"soak: {name}: rss {s['VmRSS']} KiB fds {s['fds']} threads {s['Threads']}",
                  flush=True)
        print(f"soak: max rss {max(x['VmRSS'] for x in samples)} KiB", flush=True)
        status = load.nfrctl("-o", "json", "status")
        print(f"soak: agent status at the end: {status.stdout.strip()[:3000]}", flush=True)
    finally:
        if load:
            load.stop.set()
            for t in load.threads:
                t.join(60)
        servers.stdin.close()
        a.cleanup()
        lab.down()
        if not args.keep_logs:
            bench_lib.shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}")


if __name__ == "__main__":
    main()
