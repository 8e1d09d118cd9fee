#!/usr/bin/env python3
"""iperf3 TCP throughput nfr-cli -> nfr-srv through the lab router, alternating in one run between
(a) no program attached and (b) nfr-agent attached with the flow cached (accept policy), in ABBA
order.
Prints per-run numbers, the median ratio b/a (target >= 0.97) and the agent's idle RSS
(target <= 15 MiB). A benchmark: it prints numbers, it does not pass or fail on them."""
import json
import subprocess
import time

import bench_lib
from bench_lib import harness


def iperf(lab, seconds, streams):
    r = lab.run(lab.cli, ["iperf3", "-c", harness.SRV4, "-t", str(seconds), "-P", str(streams),
                          "-J", "--connect-timeout", "3000"], timeout=seconds + 30)
    if r.returncode != 0:
        raise RuntimeError(f"iperf3 failed: {r.stdout[-500:]}{r.stderr[-500:]}")
    return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def main():
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--streams", type=int, default=1)
    args = ap.parse_args()
    lab, workdir = bench_lib.setup(args)
    agent = bench_lib.accept_agent(lab, workdir)
    server = None
    try:
        server = lab.popen(lab.srv, ["iperf3", "-s", "-B", "::"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        base, nfr, idle_rss, busy_rss = [], [], [], []
        prog_runs = prog_ns = 0
        print(f"iperf3 TCP {args.streams} stream(s), {args.reps} x (a, b) x {args.seconds}s")
        for i in range(args.reps):
            # ABBA order: odd runs measure (b) first, so a linear drift in machine load biases
            # neither side.
            a_first = i % 2 == 0
            if a_first:
                a_gbps = iperf(lab, args.seconds, args.streams)
            agent.start()
            time.sleep(1.0)
            idle_rss.append(bench_lib.rss_kib(agent.proc.pid))
            idle_detail = bench_lib.memory_detail(agent.proc.pid)
            before = agent.stats()
            cpu0 = bench_lib.cpu_seconds(agent.proc.pid)
            with bench_lib.BpfRunStats():
                cnt0, ns0 = bench_lib.BpfRunStats.prog(lab)
                b_gbps = iperf(lab, args.seconds, args.streams)
                cnt1, ns1 = bench_lib.BpfRunStats.prog(lab)
            prog_runs += cnt1 - cnt0
            prog_ns += ns1 - ns0
            agent_cpu = bench_lib.cpu_seconds(agent.proc.pid) - cpu0
            d = harness.delta(agent.stats(), before)
            busy_rss.append(bench_lib.rss_kib(agent.proc.pid))
            agent.stop()
            if not a_first:
                a_gbps = iperf(lab, args.seconds, args.streams)
            base.append(a_gbps)
            nfr.append(b_gbps)
            print(f"run {i + 1}: (a) no program {a_gbps:7.2f} Gbit/s   (b) nfr-agent {b_gbps:7.2f}"
                  f" Gbit/s   ratio {b_gbps / a_gbps:.3f}   [sent up {d['SENT_UP']},"
                  f" cached-allow pkts {d['CACHE_ALLOW']}, agent cpu {agent_cpu:.2f}s]")
        ratios = [b / a for a, b in zip(base, nfr)]
        med_ratio = bench_lib.median(nfr) / bench_lib.median(base)
        print(f"median (a) {bench_lib.median(base):.2f} Gbit/s, median (b) "
              f"{bench_lib.median(nfr):.2f} Gbit/s")
        print(f"throughput ratio b/a: median-of-medians {med_ratio:.3f}, median of per-run ratios "
              f"{bench_lib.median(ratios):.3f} (range {min(ratios):.3f}..{max(ratios):.3f};"
              f" target >= 0.97)")
        if prog_runs:
            print(f"tc program cost: {prog_ns / prog_runs:.0f} ns per packet over {prog_runs} runs"
                  f" (kernel.bpf_stats_enabled during (b))")
        print(f"agent RSS idle: max {max(idle_rss) / 1024:.1f} MiB (target <= 15 MiB); "
              f"after a run: max {max(busy_rss) / 1024:.1f} MiB")
        print(f"agent memory when idle (last run): {idle_detail}")
    finally:
        if server:
            harness.stop_process(server)
        bench_lib.teardown(lab, workdir, [agent], args.keep_logs)


if __name__ == "__main__":
    main()
