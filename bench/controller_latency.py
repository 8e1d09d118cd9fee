#!/usr/bin/env python3
"""TCP connect latency nfr-cli -> nfr-srv through the lab router when a controller decides every
connection: (a) no program attached vs (b) nfr-agent with an ASK policy and a scripted controller
(`nfrctl pending autodecide accept --for 1m`, over the agent's Unix socket) that accepts each
pending connection as soon as WatchPending shows it. Each SYN is held, streamed to the controller,
decided over gRPC, and released. Prints p50/p99 of each and the added latency (target: p50 <= 1 ms).
A benchmark: it prints numbers, it does not pass or fail on them."""
import json
import subprocess
import time

import bench_lib
from bench_lib import harness

PORT = 8002




def wait_watchers(ctl, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(ctl + ["-o", "json", "status"], capture_output=True, text=True)
        if r.returncode == 0 and int(json.loads(r.stdout)["counters"].get("watchers", 0)) >= n:
            return
        time.sleep(0.05)
    raise RuntimeError("the scripted controller did not start watching")


def main():
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--count", type=int, default=200, help="connects per batch")
    args = ap.parse_args()
    ctl_bin = harness.ctl_binary()
    if not ctl_bin:
        raise SystemExit("bench: set NFR_CTL to the nfrctl binary")
    lab, workdir = bench_lib.setup(args)
    agent = harness.Agent(lab, workdir, name="controller-bench")
    agent.config["policy"] = {"defaultVerdict": "VERDICT_DROP", "pendingTimeoutMs": 5000, "rules": [
        harness.rule("ask-bench", "ask", protocol="tcp", dst_port=PORT)]}
    ctl = [ctl_bin, "--target", f"unix://{agent.socket}"]
    controller = None
    try:
        lab.start_servers(tcp=(PORT,))
        base, nfr = [], []
        bench_lib.connect_batch(lab, PORT, 20)  # warm-up: ARP/ND, caches
        for i in range(args.batches):
            a = bench_lib.connect_batch(lab, PORT, args.count)
            agent.start()
            controller = subprocess.Popen(ctl + ["pending", "autodecide", "accept", "--for", "1m"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_watchers(ctl, 1)
            b = bench_lib.connect_batch(lab, PORT, args.count)
            controller.terminate()
            controller.wait(5)
            controller = None
            agent.stop()
            base += a
            nfr += b
            print(f"batch {i + 1}: (a) p50 {bench_lib.pct(a, 50):.3f} ms  (b) p50 "
                  f"{bench_lib.pct(b, 50):.3f} ms")
        for name, v in (("(a) no program", base), ("(b) ask + controller", nfr)):
            print(f"{name:22s} n={len(v)} p50 {bench_lib.pct(v, 50):.3f} ms  p90 "
                  f"{bench_lib.pct(v, 90):.3f} ms  p99 {bench_lib.pct(v, 99):.3f} ms")
        print(f"added connect latency: p50 {bench_lib.pct(nfr, 50) - bench_lib.pct(base, 50):+.3f} ms"
              f"  p99 {bench_lib.pct(nfr, 99) - bench_lib.pct(base, 99):+.3f} ms")
    finally:
        if controller is not None:
            controller.kill()
        bench_lib.teardown(lab, workdir, [agent], args.keep_logs)


if __name__ == "__main__":
    main()
