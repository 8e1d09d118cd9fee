#!/usr/bin/env python3
"""iperf3 TCP throughput nfr-cli -> nfr-srv through the lab router, alternating in one run between
(a) no program attached and (b) nfr-agent attached with the flow cached (accept policy), in a
rotating order; with --agent-b PATH also (c) a second agent binary (e.g. the previous build), so two builds
are compared side by side. Every variant has a lab of its own, so what one agent leaves in its
router namespace (netfilter tables and their hooks) cannot slow the others down.
Prints per-run numbers, the median ratios against (a) (target >= 0.97) and the agent's idle RSS
(target <= 15 MiB). The timed runs leave kernel.bpf_stats_enabled alone (it costs two clock reads
per packet); the tc program's own cost is measured afterwards in runs of its own. With --ablate,
each agent is also measured with its compat netfilter rule removed once the flow is cached, which
splits the cost between the tc program and the rule. A benchmark: it prints numbers, it does not pass
or fail on them."""
import json
import subprocess
import time

import bench_lib
from bench_lib import harness


class BinaryAgent(harness.Agent):
    """An agent run from an explicit binary (default: $NFR_AGENT)."""

    def __init__(self, *args, binary=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = binary

    def argv(self, extra=()):
        argv = super().argv(extra)
        if self.binary:
            argv[0] = self.binary
        return argv


def iperf(lab, seconds, streams, during=None):
    """Gbit/s received, averaged over the intervals after the first second (slow start; and the
    time `during` gets to change something once the flow is cached)."""
    p = lab.popen(lab.cli, ["iperf3", "-c", harness.SRV4, "-t", str(seconds), "-P", str(streams),
                            "-J", "--connect-timeout", "3000"], stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    if during:
        time.sleep(0.7)
        during()
    out, err = p.communicate(timeout=seconds + 30)
    if p.returncode != 0:
        raise RuntimeError(f"iperf3 failed: {out[-500:]}{err[-500:]}")
    intervals = [i["sum"]["bits_per_second"] for i in json.loads(out)["intervals"]][1:]
    return sum(intervals) / len(intervals) / 1e9


def drop_compat_rule(lab):
    """Removes the agent's compat rule (nft table or iptables rules) while the agent runs."""
    lab.run(lab.rtr, ["nft", "delete", "table", "inet", "nfr_agent"], check=False)
    legacy = lab.run(lab.rtr, ["cat", "/proc/net/ip_tables_names",
                               "/proc/net/ip6_tables_names"], check=False).stdout or ""
    for tool in ("iptables-nft", "ip6tables-nft", "iptables-legacy", "ip6tables-legacy"):
        if "legacy" in tool and "mangle" not in legacy:
            continue  # listing would create the table and its hooks
        r = lab.run(lab.rtr, [tool, "-w", "5", "-t", "mangle", "-S", "PREROUTING"], check=False)
        for line in (r.stdout or "").splitlines():
            if line.startswith("-A PREROUTING ") and "nfr-agent" in line:
                lab.run(lab.rtr, [tool, "-w", "5", "-t", "mangle"] +
                        ["-D" if t == "-A" else t for t in line.split()], check=False)


def quantile(xs, q):
    """Linear-interpolated quantile of sorted xs."""
    pos = (len(xs) - 1) * q
    i = int(pos)
    return xs[i] if i + 1 >= len(xs) else xs[i] + (xs[i + 1] - xs[i]) * (pos - i)


def median_ci(xs):
    """Distribution-free ~95% confidence interval of the median of sorted xs (order statistics
    n/2 -+ 0.98 sqrt(n)); the whole range when n is too small for one."""
    n = len(xs)
    k = int(n / 2 - 0.98 * n ** 0.5)
    return (xs[k], xs[n - 1 - k]) if k >= 0 and n >= 6 else (xs[0], xs[-1])


def main():
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--agent-b", help="second nfr-agent binary measured as (c)")
    ap.add_argument("--queue-num", type=int, default=4200,
                    help="NFQUEUE number of (b); (c) uses the next one (default 4200)")
    ap.add_argument("--ablate", action="store_true",
                    help="also measure each agent with its compat rule removed")
    args = ap.parse_args()
    lab_a, workdir = bench_lib.setup(args)
    labs = {"a": lab_a, "b": harness.Lab().up()}
    agents = {"b": BinaryAgent(labs["b"], workdir, name="bench-b", queue_num=args.queue_num)}
    if args.agent_b:
        labs["c"] = harness.Lab().up()
        agents["c"] = BinaryAgent(labs["c"], workdir, name="bench-c", binary=args.agent_b,
                                  queue_num=args.queue_num + 1)
    for a in agents.values():
        a.config["policy"] = {"defaultVerdict": "VERDICT_ACCEPT",
                              "rules": [{"id": "all", "action": "ACTION_ACCEPT"}]}
    variants = ["a"] + [(k, False) for k in agents] + (
        [(k, True) for k in agents] if args.ablate else [])
    label = {"a": "(a) no program"}
    for k in agents:
        label[(k, False)] = f"({k}) agent {'--agent-b' if k == 'c' else 'NFR_AGENT'}"
        label[(k, True)] = f"({k}-norule) agent, compat rule removed"
    servers = []
    try:
        for lab in labs.values():
            servers.append(lab.popen(lab.srv, ["iperf3", "-s", "-B", "::"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        gbps = {v: [] for v in variants}
        idle_rss, busy_rss, idle_detail = {}, {}, {}
        print(f"iperf3 TCP {args.streams} stream(s), {args.reps} rounds x {len(variants)} variants"
              f" x {args.seconds}s; order rotates every round")

        def measure(v):
            if v == "a":
                return iperf(labs["a"], args.seconds, args.streams), ""
            key, norule = v
            agent = agents[key]
            lab = labs[key]
            # The agent stays up between its runs (the compat-rule ablation restarts it).
            if not agent.running():
                agent.start()
                time.sleep(1.0)
                idle_rss.setdefault(key, []).append(bench_lib.rss_kib(agent.proc.pid))
                idle_detail[key] = bench_lib.memory_detail(agent.proc.pid)
            before = agent.stats()
            cpu0 = bench_lib.cpu_seconds(agent.proc.pid)
            # The rule goes once the flow is cached (dropped earlier, the SYN would never be
            # decided and every packet of the flow would be sent up in vain).
            g = iperf(lab, args.seconds, args.streams,
                      during=(lambda: drop_compat_rule(lab)) if norule else None)
            cpu = bench_lib.cpu_seconds(agent.proc.pid) - cpu0
            d = harness.delta(agent.stats(), before)
            busy_rss.setdefault(key, []).append(bench_lib.rss_kib(agent.proc.pid))
            if norule:
                agent.stop()
            return g, (f"[sent up {d['SENT_UP']}, cached-allow pkts {d['CACHE_ALLOW']},"
                       f" agent cpu {cpu:.2f}s]")

        for i in range(args.reps):
            # Rotate (and every other round reverse) the order, so a drift in machine load
            # biases no variant.
            order = variants[i % len(variants):] + variants[:i % len(variants)]
            if i % 2:
                order.reverse()
            line = []
            for v in order:
                g, extra = measure(v)
                gbps[v].append(g)
                line.append(f"{label[v]} {g:6.2f} {extra}")
            print(f"run {i + 1}: " + " | ".join(line))
        for agent in agents.values():
            agent.stop()
        base = gbps["a"]
        print(f"median {label['a']}: {bench_lib.median(base):.2f} Gbit/s (range {min(base):.2f}.."
              f"{max(base):.2f})")
        # The headline is the median of per-round ratios: both sides of a ratio ran seconds apart,
        # so the machine's load drift (which moves (a) alone by 2x here) mostly cancels.
        for v in variants[1:]:
            ratios = sorted(b / a for a, b in zip(base, gbps[v]))
            lo, hi = median_ci(ratios)
            print(f"{label[v]}: median {bench_lib.median(gbps[v]):.2f} Gbit/s; ratio to (a):"
                  f" median of per-round ratios {bench_lib.median(ratios):.3f} (~95% CI"
                  f" {lo:.3f}..{hi:.3f}, quartiles {quantile(ratios, 0.25):.3f}.."
                  f"{quantile(ratios, 0.75):.3f}, range {ratios[0]:.3f}..{ratios[-1]:.3f},"
                  f" n={len(ratios)}; target >= 0.97); median-of-medians"
                  f" {bench_lib.median(gbps[v]) / bench_lib.median(base):.3f}")

        # Program cost in runs of their own: bpf_stats adds clock reads to every run.
        for key, agent in agents.items():
            lab = labs[key]
            agent.start()
            time.sleep(1.0)
            with bench_lib.BpfRunStats():
                cnt0, ns0 = bench_lib.BpfRunStats.prog(lab)
                iperf(lab, args.seconds, args.streams)
                cnt1, ns1 = bench_lib.BpfRunStats.prog(lab)
            agent.stop()
            if cnt1 > cnt0:
                print(f"({key}) tc program cost: {(ns1 - ns0) / (cnt1 - cnt0):.0f} ns per packet"
                      f" over {cnt1 - cnt0} runs (separate run with kernel.bpf_stats_enabled)")
        for key in agents:
            print(f"({key}) agent RSS idle: max {max(idle_rss[key]) / 1024:.1f} MiB (target <= 15"
                  f" MiB); after a run: max {max(busy_rss[key]) / 1024:.1f} MiB")
            print(f"({key}) agent memory when idle (last run): {idle_detail[key]}")
    finally:
        for server in servers:
            harness.stop_process(server)
        for key in ("b", "c"):
            if key in labs:
                labs[key].down()
        bench_lib.teardown(labs["a"], workdir, list(agents.values()), args.keep_logs)


if __name__ == "__main__":
    main()
