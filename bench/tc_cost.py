#!/usr/bin/env python3
"""The tc program's own cost per packet on its cached paths, by BPF_PROG_TEST_RUN (`bpftool prog
run ... repeat N`), for one or more compiled objects side by side (e.g. this build's and main's
build/bpf/nfr_tc.bpf.o), alternating in rounds. No lab, no interface, no agent: the objects are
loaded and their maps filled by hand under a pin directory, so the figure is the program alone,
free of iperf3's variance. A benchmark: it prints numbers, it does not pass or fail on them.

Paths: tcp-allow (an established TCP packet whose flow is cached ALLOW), udp-allow (a UDP packet of
a cached flow), udp-reply (a UDP answer to a cached flow whose entry covers its replies; an object
without NFR_FLOW_F_REPLIES sends it up instead)."""
import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
A = bytes([10, 0, 0, 1])
B = bytes([10, 0, 1, 1])
STATS = {1: "NOT_IP", 2: "UNSELECTED", 3: "NOT_NEW", 4: "CACHE_ALLOW", 5: "CACHE_DENY",
         6: "CACHE_PENDING", 7: "TO_NATIVE", 8: "TO_COMPAT"}


def bpftool(*argv, check=True):
    r = subprocess.run(["bpftool", *argv], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"bpftool {' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def hexargs(b):
    return [f"0x{x:02x}" for x in b]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(proto, src, dst, sport, dport, tcp_flags=0x10):
    l4 = (struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, tcp_flags, 65535, 0, 0)
          if proto == 6 else struct.pack("!HHHH", sport, dport, 8 + 32, 0)) + bytes(32)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + l4


def flow_key(proto, src, dst, sport, dport):
    return (struct.pack("<BBH", 2, proto, 0) + struct.pack("!HH", sport, dport) + src + bytes(12)
            + dst + bytes(12))


def flow_value(verdict, flags):
    expires = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 3600 * 10**9
    return struct.pack("<QIBBHIIQ", expires, verdict, 1, 0, flags, 1, 1, 1)


class Loaded:
    """One object loaded with its maps pinned under dir and filled for the paths above."""

    def __init__(self, obj, pin):
        self.obj, self.pin = obj, pin
        (pin / "maps").mkdir(parents=True)
        bpftool("prog", "loadall", str(obj), str(pin / "progs"), "type", "classifier",
                "pinmaps", str(pin / "maps"))
        # compat mode, mark 0x1, pending 1000 ms, no budget; layout stamp 1.
        self.update("nfr_config", struct.pack("<I", 0), struct.pack("<IIIIIII", 2, 0, 1, 1000, 0,
                                                                    0, 1))
        self.update("nfr_ifaces", struct.pack("<I", 1), struct.pack("<I", 1))  # lo, ingress
        if (pin / "maps" / "nfr_ifidx").exists():
            self.update("nfr_ifidx", struct.pack("<I", 1), struct.pack("<I", 1))
        for proto in (6, 17):
            self.update("nfr_sel_proto", struct.pack("<I", proto), b"\x01")
        self.update("nfr_flows", flow_key(6, A, B, 40000, 80), flow_value(1, 0))
        self.update("nfr_flows", flow_key(17, A, B, 40001, 53), flow_value(1, 2))

    def update(self, name, key, value):
        # An older object's value may be shorter: its leading fields are the same.
        size = json.loads(bpftool("map", "show", "pinned", str(self.pin / "maps" / name),
                                  "-j").stdout)["bytes_value"]
        value = value[:size].ljust(size, b"\0")
        bpftool("map", "update", "pinned", str(self.pin / "maps" / name), "key", *hexargs(key),
                "value", *hexargs(value))

    def stats(self):
        """nfr_stats summed over CPUs, by index."""
        out = json.loads(bpftool("map", "dump", "pinned", str(self.pin / "maps" / "nfr_stats"),
                                 "-j").stdout)
        return {e["formatted"]["key"]: sum(v["value"] for v in e["formatted"]["values"])
                for e in out}

    def outcome(self, data):
        """Which counters one run of data moves (besides PACKETS): the path it took."""
        before = self.stats()
        self.run(data, 1)
        after = self.stats()
        return [STATS.get(k, str(k)) for k in after if k and after[k] != before.get(k, 0)]

    def run(self, data, repeat):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            out = bpftool("prog", "run", "pinned", str(self.pin / "progs" / "nfr_ingress"),
                          "data_in", f.name, "repeat", str(repeat)).stdout
        m = re.search(r"duration(?: \(average\))?: (\d+)ns", out)
        if not m:
            raise SystemExit(f"bpftool prog run: no duration in {out!r}")
        return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("objects", nargs="*", help="nfr_tc.bpf.o files (default: build/bpf/ of this "
                    "tree, and of /work/main when it exists)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=200000)
    ap.add_argument("--pin-dir", default="/sys/fs/bpf/nfr-tc-cost")
    args = ap.parse_args()
    objs = [Path(o) for o in args.objects] or [
        p for p in (ROOT / "build/bpf/nfr_tc.bpf.o", Path("/work/main/build/bpf/nfr_tc.bpf.o"))
        if p.exists()]
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (loads BPF programs)")
    pin = Path(args.pin_dir)
    shutil.rmtree(pin, ignore_errors=True)
    paths = {"tcp-allow": frame(6, A, B, 40000, 80), "udp-allow": frame(17, A, B, 40001, 53),
             "udp-reply": frame(17, B, A, 53, 40001)}
    try:
        loaded = [Loaded(o, pin / str(i)) for i, o in enumerate(objs)]
        ns = {(i, p): [] for i in range(len(objs)) for p in paths}
        took = {(i, p): loaded[i].outcome(data) for i in range(len(objs))
                for p, data in paths.items()}
        for r in range(args.rounds):
            order = list(range(len(objs)))
            if r % 2:
                order.reverse()
            for i in order:
                for p, data in paths.items():
                    ns[(i, p)].append(loaded[i].run(data, args.repeat))
        print(f"tc program cost, BPF_PROG_TEST_RUN x {args.repeat}, {args.rounds} alternating "
              f"rounds; load average {os.getloadavg()[0]:.1f}")
        for i, o in enumerate(objs):
            print(f"[{i}] {o}")
            for p in paths:
                v = sorted(ns[(i, p)])
                print(f"    {p:10s} median {statistics.median(v):4.0f} ns (range {v[0]}..{v[-1]};"
                      f" path {'+'.join(took[(i, p)])})")
        for i in range(1, len(objs)):
            for p in paths:
                per = sorted(a / b for a, b in zip(ns[(i, p)], ns[(0, p)]))
                print(f"[{i}]/[0] {p:10s} median of per-round ratios {statistics.median(per):.2f}"
                      f" (range {per[0]:.2f}..{per[-1]:.2f})")
    finally:
        shutil.rmtree(pin, ignore_errors=True)


if __name__ == "__main__":
    main()
