#!/usr/bin/env python3
"""New-flow verdict rate: a UDP flood nfr-cli -> nfr-srv where every packet is a new 5-tuple,
decided (a) by a bare libnetfilter_queue accept loop (bench/c/nfq_bare_loop.c, compiled here) and
(b) by nfr-agent with an accept-everything policy, with queue.count=1 and queue.count=2; runs
alternate in one invocation. Every variant gets the same datapath in front of its queue: the
agent's tc program on r-cli (parse + PENDING insert into the flow map) and its compat NFQUEUE
rule. For the bare loops an agent sets them up and exits with restart.fail_closed_while_down,
which leaves program, maps and rule in place (the rule without --queue-bypass, which only
matters while nothing is bound); the bare loop then binds the queue. So the variants differ only
in the userspace consumer (--no-datapath: the old comparison, bare loops behind a plain
iptables rule and no tc program). Prints verdicts/s of each, the load each was offered, the
ratios to bare1, consumer CPU per verdict, and how many packets passed the router uninspected
(reached the server without a verdict: queue overflow with fail-open).
A benchmark: it prints numbers, it does not pass or fail on them."""

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import bench_lib
from bench_lib import harness

HERE = Path(__file__).resolve().parent
PREFIX = "qs-nf-"
PIN_DIR = harness.BPF_FS / "qs-newflow"
QUEUE = 4800       # bare single queue, agent count=1
QUEUE2 = 4802      # agent count=2 (4802, 4803)
BARE2 = 4804       # bare, two processes with fanout (4804, 4805)
QLOOP = 4806       # the agent's queue layer alone (4806; 4807, 4808 for two queues)
DPORT = 9
SRC_BASE, NSRC = "10.77.0.10", 200


def sh(ns_argv, lab=None, ns=None, **kw):
    argv = (lab.nsenter(ns) if lab else []) + list(ns_argv)
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kw)


def compile_tools(workdir):
    out = {}
    for name, libs in (("newflow_sender", []), ("nfq_bare_loop", ["-lnetfilter_queue", "-lmnl"])):
        exe = Path(workdir) / name
        subprocess.run(["cc", "-O2", "-Wall", "-o", str(exe), str(HERE / "c" / f"{name}.c")] + libs,
                       check=True)
        out[name] = str(exe)
    return out


def proc_stat():
    """(busy, softirq) CPU seconds of the whole machine so far (all CPUs, from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / tck, v[6] / tck


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def nft(lab, ns, script):
    r = subprocess.run(lab.nsenter(ns) + ["nft", "-f", "-"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"nft in {ns}: {r.stderr.strip()}\n{script}")


def server_counter(lab):
    """Packets of the flood that reached the server namespace (counted and dropped there)."""
    r = sh(["nft", "-j", "list", "chain", "ip", "qsbench", "pre"], lab, lab.srv)
    for item in json.loads(r.stdout)["nftables"]:
        for e in item.get("rule", {}).get("expr", []):
            if "counter" in e:
                return e["counter"]["packets"]
    raise RuntimeError("server counter rule missing")


def accept_all(agent, first, count):
    agent.config["queue"] = {"num": first, "count": count}
    agent.config["policy"] = {"defaultVerdict": "VERDICT_ACCEPT",
                              "rules": [{"id": "all", "action": "ACTION_ACCEPT"}]}


class HeldDatapath:
    """The agent's datapath with no agent: an agent with the variant's queue num/count sets up the
    tc program, maps and compat rule, and exits with restart.fail_closed_while_down, leaving them
    in place for a bare consumer. The next agent started on PIN_DIR replaces them."""

    def __init__(self, lab, workdir, first, count):
        self.agent = harness.Agent(lab, workdir, pin_dir=PIN_DIR, queue_num=first, name="held")
        accept_all(self.agent, first, count)
        self.agent.config["restart"] = {"failClosedWhileDown": True}

    def install(self):
        shutil.rmtree(PIN_DIR, ignore_errors=True)
        self.agent.start()
        rc = self.agent.stop()
        if rc not in (0, None) or "leaving the tc program" not in self.agent.log():
            raise RuntimeError("the held agent did not leave its datapath in place:\n"
                               + self.agent.log())


def release_datapath(lab, workdir):
    """Removes a held datapath (program, rule, run state): an agent that starts and stops."""
    a = harness.Agent(lab, workdir, pin_dir=PIN_DIR, queue_num=QUEUE, name="release")
    accept_all(a, QUEUE, 1)
    shutil.rmtree(PIN_DIR, ignore_errors=True)
    a.start()
    a.cleanup()


class Bare:
    """One bare accept loop per queue (or, with `argvs`, the given processes) behind the agent's
    datapath (`held`, a HeldDatapath), or behind a plain netfilter rule that queues the flood."""

    def __init__(self, lab, exe, first, count, argvs=None, held=None):
        self.lab, self.first, self.count, self.held = lab, first, count, held
        self.argvs = argvs or [[exe, str(first + i)] for i in range(count)]

    def rule(self):
        q = (["--queue-balance", f"{self.first}:{self.first + self.count - 1}"] if self.count > 1
             else ["--queue-num", str(self.first)])
        # The agent's compat backend on a kernel without nft_queue: iptables NFQUEUE in mangle.
        return ["PREROUTING", "-s", "10.77.0.0/24", "-p", "udp", "--dport", str(DPORT), "-j",
                "NFQUEUE"] + q + ["--queue-bypass"]

    def start(self):
        if self.held:
            self.held.install()
        else:
            sh(["iptables", "-w", "5", "-t", "mangle", "-I"] + self.rule(), self.lab, self.lab.rtr)
        self.procs = []
        for argv in self.argvs:
            p = self.lab.popen(self.lab.rtr, argv, stdout=subprocess.PIPE, text=True)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"{argv[0]} did not start")
            self.procs.append(p)
        self.cpu0 = sum(bench_lib.cpu_seconds(p.pid) for p in self.procs)

    def stop(self):
        cpu = sum(bench_lib.cpu_seconds(p.pid) for p in self.procs) - self.cpu0
        n = 0
        for p in self.procs:
            p.terminate()
            out, _ = p.communicate(timeout=10)
            res = json.loads(out.strip().splitlines()[-1])
            n += res["verdicts"]
            if len(res) > 1:
                print(f"    {self.argvs[0][0].rsplit('/', 1)[-1]}: {res}")
        if not self.held:
            sh(["iptables", "-w", "5", "-t", "mangle", "-D"] + self.rule(), self.lab, self.lab.rtr)
        return n, cpu


class AgentRun:
    def __init__(self, lab, workdir, ctl, first, count, binary=None):
        self.agent = harness.Agent(lab, workdir, pin_dir=PIN_DIR, queue_num=first,
                                   name=f"agent{count}")
        if binary:  # another build of the agent (e.g. the base of a change), side by side
            self.agent.argv = lambda extra=(): [binary, f"--config={self.agent.config_path}"] + list(extra)
        accept_all(self.agent, first, count)
        self.ctl = ctl

    def verdicts(self):
        r = subprocess.run([self.ctl, "--target", f"unix://{self.agent.socket}", "status", "-o",
                            "json"], capture_output=True, text=True, check=True, timeout=30)
        c = json.loads(r.stdout)["counters"]
        return int(c.get("verdicts_accept", 0)) + int(c.get("verdicts_drop", 0))

    def start(self):
        shutil.rmtree(PIN_DIR, ignore_errors=True)
        self.agent.start()
        self.v0 = self.verdicts()
        self.cpu0 = bench_lib.cpu_seconds(self.agent.proc.pid)

    def stop(self):
        n = self.verdicts() - self.v0
        cpu = bench_lib.cpu_seconds(self.agent.proc.pid) - self.cpu0
        self.agent.cleanup()
        return n, cpu


def main():
    global PIN_DIR, QUEUE, QUEUE2, BARE2, QLOOP
    ap = bench_lib.common_args(__doc__)
    ap.add_argument("--ctl", default=os.environ.get("NFR_CTL", str(bench_lib.ROOT / "build/ctl/nfrctl")))
    ap.add_argument("--queue-loop", default=str(bench_lib.ROOT / "build/bench/queue_accept_loop"),
                    help="queue_accept_loop binary (variants queue1/queue2)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--pps", type=float, default=100000)
    ap.add_argument("--perf", metavar="PREFIX",
                    help="record `perf record -g` of each agent run to PREFIX-<kind>-<rep>.data")
    ap.add_argument("--agent-base", help="a second nfr-agent build, run as base1/base2")
    ap.add_argument("--no-datapath", action="store_true",
                    help="bare/queue variants behind a plain iptables NFQUEUE rule without the "
                         "agent's tc program (unfair to the agent: its sender is not slowed by "
                         "the program)")
    ap.add_argument("--prefix", default=PREFIX, help="lab namespace prefix (and pin dir name)")
    ap.add_argument("--pin-dir", help="BPF pin dir of the runs (default /sys/fs/bpf/PREFIXnewflow)")
    ap.add_argument("--queue-base", type=int, default=QUEUE,
                    help="first of the 9 NFQUEUE numbers the runs use")
    ap.add_argument("--only", default="bare1,agent1,agent2,bare2",
                    help="comma-separated subset of bare1,agent1,agent2,bare2,queue1,queue2,"
                         "base1,base2 "
                         "(queue*: the agent's queue layer alone, accepting everything)")
    args = ap.parse_args()
    PIN_DIR = Path(args.pin_dir) if args.pin_dir else harness.BPF_FS / f"{args.prefix}newflow"
    QUEUE, QUEUE2, BARE2, QLOOP = (args.queue_base + d for d in (0, 2, 4, 6))
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (creates namespaces, attaches BPF)")
    os.environ["NFR_AGENT"] = os.path.abspath(args.agent)
    harness.ensure_bpffs()
    workdir = tempfile.mkdtemp(prefix="qs-newflow-")
    tools = compile_tools(workdir)
    lab = harness.Lab(prefix=args.prefix)
    lab.down()
    lab.up()
    runs = {}
    order = [k for k in args.only.split(",") if k]
    held_used = not args.no_datapath and any(not k.startswith(("agent", "base")) for k in order)
    print(f"load average {' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
    try:
        nft(lab, lab.srv, f"""table ip qsbench {{
  chain pre {{ type filter hook prerouting priority raw; udp dport {DPORT} counter drop; }}
}}""")
        def held(first, count):
            return None if args.no_datapath else HeldDatapath(lab, workdir, first, count)

        kinds = {
            "bare1": lambda: Bare(lab, tools["nfq_bare_loop"], QUEUE, 1, held=held(QUEUE, 1)),
            "bare2": lambda: Bare(lab, tools["nfq_bare_loop"], BARE2, 2, held=held(BARE2, 2)),
            "queue1": lambda: Bare(lab, None, QLOOP, 1, [[args.queue_loop, str(QLOOP), "1"]],
                                   held=held(QLOOP, 1)),
            "queue2": lambda: Bare(lab, None, QLOOP + 1, 2,
                                   [[args.queue_loop, str(QLOOP + 1), "2"]],
                                   held=held(QLOOP + 1, 2)),
            "agent1": lambda: AgentRun(lab, workdir, args.ctl, QUEUE, 1),
            "agent2": lambda: AgentRun(lab, workdir, args.ctl, QUEUE2, 2),
            "base1": lambda: AgentRun(lab, workdir, args.ctl, QUEUE, 1, args.agent_base),
            "base2": lambda: AgentRun(lab, workdir, args.ctl, QUEUE2, 2, args.agent_base),
        }
        offset = 0
        for rep in range(args.reps):
            seq = order[rep % len(order):] + order[:rep % len(order)]  # rotate against drift
            for kind in seq:
                consumer = kinds[kind]()
                consumer.start()
                before = server_counter(lab)
                perf = None
                if args.perf and isinstance(consumer, AgentRun):
                    perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o",
                                             f"{args.perf}-{kind}-{rep + 1}.data", "-p",
                                             str(consumer.agent.proc.pid)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                st0, ch0 = proc_stat(), children_cpu()
                r = lab.run(lab.cli, [tools["newflow_sender"], SRC_BASE, str(NSRC), harness.SRV4,
                                      str(DPORT), str(args.pps), str(args.seconds), str(offset)],
                            timeout=args.seconds + 60, check=True)
                st1, ch1 = proc_stat(), children_cpu()
                sent = json.loads(r.stdout)
                if perf:
                    perf.send_signal(2)
                    perf.wait(60)
                offset += sent["sent"] + 1000
                time.sleep(0.5)  # let the queue drain
                passed = server_counter(lab) - before
                verdicts, cpu = consumer.stop()
                res = {"sent": sent["sent"], "seconds": sent["seconds"], "verdicts": verdicts,
                       "rate": verdicts / sent["seconds"], "passed": passed,
                       "uninspected": max(0, passed - verdicts), "cpu": cpu,
                       "sender_cpu": ch1 - ch0, "busy": st1[0] - st0[0],
                       "softirq": st1[1] - st0[1]}
                runs.setdefault(kind, []).append(res)
                print(f"rep {rep + 1} {kind:6s}: sent {res['sent']} in {res['seconds']:.2f}s, "
                      f"verdicts {verdicts} ({res['rate'] / 1000:.1f}k/s), reached server {passed}, "
                      f"uninspected {res['uninspected']}, consumer CPU {cpu:.2f}s, sender "
                      f"{res['sender_cpu']:.2f}s, machine busy {res['busy']:.2f}s (softirq "
                      f"{res['softirq']:.2f}s) of {os.cpu_count() * res['seconds']:.1f}s",
                      flush=True)
        print()
        med = {k: bench_lib.median([r["rate"] for r in v]) for k, v in runs.items()}
        for k, v in runs.items():
            un = sum(r["uninspected"] for r in v)
            sent = sum(r["sent"] for r in v)
            offered = bench_lib.median([r["sent"] / r["seconds"] for r in v])
            decided = sum(r["verdicts"] for r in v) / max(1, sent)
            print(f"{k:6s}: median {med[k] / 1000:.1f}k verdicts/s (runs "
                  f"{', '.join('%.1fk' % (r['rate'] / 1000) for r in v)}); offered "
                  f"{offered / 1000:.1f}k/s, decided {100 * decided:.1f} % of it; uninspected "
                  f"{un} of {sent} ({100 * un / max(1, sent):.1f} %)")
        # CPU per verdict: on a machine where sender, router and consumer share the cores, a
        # consumer that costs more slows the sender too; this ratio does not depend on that.
        cpu = {k: bench_lib.median([r["cpu"] / max(1, r["verdicts"]) * 1e6 for r in v])
               for k, v in runs.items()}
        for k, v in runs.items():
            # Where the cores went while the sender ran (the sender's process CPU includes the
            # tc program, forwarding and queueing done in its softirq context).
            share = {f: bench_lib.median([r[f] / (os.cpu_count() * r["seconds"]) for r in v])
                     for f in ("sender_cpu", "busy", "softirq")}
            print(f"{k:6s}: median consumer CPU {cpu[k]:.1f} us per verdict; of the machine's "
                  f"{os.cpu_count()} cores: sender {100 * share['sender_cpu']:.0f} %, busy "
                  f"{100 * share['busy']:.0f} %, softirq {100 * share['softirq']:.0f} %")
        if "bare1" in cpu:
            for k in cpu:
                if k != "bare1":
                    print(f"efficiency {k} (bare1 CPU per verdict / {k}'s): "
                          f"{cpu['bare1'] / cpu[k]:.2f}")
        if "bare1" in med:
            for k in ("agent1", "agent2", "base1", "base2", "bare2", "queue1", "queue2"):
                if k in med:
                    # Same rep, side by side: the ratio of verdicts/s and of offered load (a
                    # consumer that takes the sender's CPU lowers what it is offered).
                    pairs = list(zip(runs[k], runs["bare1"]))
                    per = sorted(a["rate"] / b["rate"] for a, b in pairs)
                    off = bench_lib.median([(a["sent"] / a["seconds"]) / (b["sent"] / b["seconds"])
                                            for a, b in pairs])
                    print(f"ratio {k} / bare1: {med[k] / med['bare1']:.2f} (median of per-rep "
                          f"ratios {bench_lib.median(per):.2f}, range {per[0]:.2f}..{per[-1]:.2f}; "
                          f"offered load {off:.2f}x bare1's)")
        print(f"load average {' '.join('%.2f' % x for x in os.getloadavg())}")
    finally:
        if held_used:
            try:
                release_datapath(lab, workdir)
            except Exception as e:  # noqa: BLE001 - cleanup; the namespaces go below anyway
                print(f"releasing the held datapath: {e}")
        lab.down()
        shutil.rmtree(PIN_DIR, ignore_errors=True)
        if args.keep_logs:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
