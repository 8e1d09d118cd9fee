#!/usr/bin/env python3
"""TCP connect latency nfr-cli -> nfr-srv through the lab router: (a) no program attached vs
(b) nfr-agent with an ACCEPT policy, so every connection's SYN goes through userspace once.
Alternates (a)/(b) batches in one run (ABBA order); prints p50/p99 of each and the added latency.
A benchmark: it prints numbers, it does not pass or fail on them."""

import bench_lib
from bench_lib import harness

PORT = 8001


def main():
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--count", type=int, default=200, help="connects per batch")
    args = ap.parse_args()
    lab, workdir = bench_lib.setup(args)
    agent = bench_lib.accept_agent(lab, workdir)
    try:
        lab.start_servers(tcp=(PORT,))
        base, nfr = [], []
        bench_lib.connect_batch(lab, PORT, 20)  # warm-up: ARP/ND, caches
        for i in range(args.batches):
            a_first = i % 2 == 0  # ABBA order against drift in machine load
            if a_first:
                a = bench_lib.connect_batch(lab, PORT, args.count)
            agent.start()
            before = agent.stats()
            b = bench_lib.connect_batch(lab, PORT, args.count)
            d = harness.delta(agent.stats(), before)
            agent.stop()
            if not a_first:
                a = bench_lib.connect_batch(lab, PORT, args.count)
            base += a
            nfr += b
            print(f"batch {i + 1}: (a) p50 {bench_lib.pct(a, 50):.3f} ms  (b) p50 "
                  f"{bench_lib.pct(b, 50):.3f} ms  [sent up {d['SENT_UP']} of {args.count}]")
        for name, v in (("(a) no program", base), ("(b) nfr-agent accept", nfr)):
            print(f"{name:22s} n={len(v)} p50 {bench_lib.pct(v, 50):.3f} ms  p90 "
                  f"{bench_lib.pct(v, 90):.3f} ms  p99 {bench_lib.pct(v, 99):.3f} ms")
        print(f"added connect latency: p50 {bench_lib.pct(nfr, 50) - bench_lib.pct(base, 50):+.3f} ms"
              f"  p99 {bench_lib.pct(nfr, 99) - bench_lib.pct(base, 99):+.3f} ms"
              f"  (ratio p50 {bench_lib.pct(nfr, 50) / bench_lib.pct(base, 50):.2f})")
    finally:
        bench_lib.teardown(lab, workdir, [agent], args.keep_logs)


if __name__ == "__main__":
    main()
