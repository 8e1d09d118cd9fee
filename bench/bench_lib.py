"""Shared bench plumbing: a lab (scripts/lab.sh) and the real nfr-agent, via the integration harness."""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import harness  # noqa: E402


def common_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--agent", default=os.environ.get("NFR_AGENT", str(ROOT / "build/agent/nfr-agent")),
                    help="nfr-agent binary (default $NFR_AGENT or build/agent/nfr-agent)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the agent log directory")
    return ap


def setup(args):
    if os.geteuid() != 0:
        sys.exit("bench: run as root (creates namespaces, attaches BPF)")
    if not os.access(args.agent, os.X_OK):
        sys.exit(f"bench: no nfr-agent at {args.agent}; build it or pass --agent PATH")
    os.environ["NFR_AGENT"] = os.path.abspath(args.agent)
    harness.ensure_bpffs()
    harness.clean_stale()
    lab = harness.Lab().up()
    workdir = tempfile.mkdtemp(prefix="nfr-bench-")
    return lab, workdir


def accept_agent(lab, workdir, name="bench"):
    """An agent on r-cli ingress whose policy accepts everything (every new flow asks once)."""
    a = harness.Agent(lab, workdir, name=name)
    a.config["policy"] = {"defaultVerdict": "VERDICT_ACCEPT", "rules": [
        {"id": "all", "action": "ACTION_ACCEPT"}]}
    return a


def teardown(lab, workdir, agents, keep_logs):
    for a in agents:
        a.cleanup()
    lab.down()
    if keep_logs:
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class BpfRunStats:
    """kernel.bpf_stats_enabled for the duration of a with-block (restored afterwards), so
    `bpftool prog show` reports run_cnt / run_time_ns: the program's own cost per packet,
    independent of how busy the machine is."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.old = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.old)

    @staticmethod
    def prog(lab):
        """(run_cnt, run_time_ns) of the program attached to r-cli ingress in this lab."""
        import json
        import re
        for line in lab.tc_filters():
            m = re.search(r"\bid (\d+)", line)
            if m:
                r = harness.run(["bpftool", "-j", "prog", "show", "id", m.group(1)], check=False)
                p = json.loads(r.stdout or "{}")
                return p.get("run_cnt", 0), p.get("run_time_ns", 0)
        return 0, 0


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_detail(pid):
    """VmRSS split into anonymous / file-backed (binary + shared libraries) / shmem, and Pss."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
                fields[k] = v.split()[0]
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    fields["Pss"] = line.split()[1]
    except OSError:
        pass
    return ", ".join(f"{k} {int(v) / 1024:.1f} MiB" if k != "Threads" else f"{k} {v}"
                     for k, v in fields.items())


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


median = statistics.median


def connect_batch(lab, port, count):
    """`count` TCP connects nfr-cli -> nfr-srv:port; returns their times in ms."""
    r = lab.run(lab.cli, [harness.PYTHON, str(harness.NETPROBE), "connect-loop", harness.SRV4,
                          str(port), "--count", str(count), "--gap-ms", "1"], timeout=count + 60)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["failures"]:
        raise RuntimeError(f"{out['failures']} connects failed")
    return out["connect_ms"]
