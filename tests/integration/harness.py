"""Integration-test harness: lab namespaces, the real nfr-agent, real traffic, BPF counters.

Everything a test creates carries this process's pid in its name (namespaces nit<pid>x<n>-*,
pin dirs /sys/fs/bpf/nfr-it-<pid>-<n>) so leftovers of a killed run can be found and removed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAB_SH = Path(os.environ.get("NFR_LAB_SH", ROOT / "scripts" / "lab.sh"))
NETPROBE = HERE / "netprobe.py"
PYTHON = "/usr/bin/python3"
BPF_FS = Path("/sys/fs/bpf")
PIN_PREFIX = "nfr-it-"

# NFR_IT_MODE=native runs every scenario with `mode: MODE_NATIVE` (patched kernel, e.g. in the VM:
# tests/vm/guest/agent_suite.sh --mode native); unset or "auto" leaves the agent's default (compat
# on stock). NFR_IT_MODE=compat leaves the default too but fails unless every agent start logs
# `mode=compat (<why>)`: the agent must choose compat by itself (the VM's stock Debian kernels).
MODE = os.environ.get("NFR_IT_MODE", "auto").strip().lower() or "auto"
NATIVE = MODE == "native"
EXPECT_COMPAT = MODE == "compat"
NATIVE_SYSCTL = Path("/proc/sys/net/core/tc_nf_redirect")
MODULE_PARAMS = Path("/sys/module/nfr_redirect/parameters")
NATIVE_QUEUE = 4200  # the module's queue numbers are global: every native agent uses them
# Response-time bounds are multiplied by this (the VM tier runs under CPU emulation).
TIME_SCALE = float(os.environ.get("NFR_IT_TIME_SCALE", "1") or "1")



def _stat_names():
    """enum nfr_stat from bpf/nfr_abi.h, in order, without the NFR_STAT_ prefix and _MAX."""
    text = (ROOT / "bpf" / "nfr_abi.h").read_text()
    body = re.search(r"enum nfr_stat\s*\{(.*?)\}", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = [n.split("=")[0].strip() for n in body.split(",")]
    return [n[len("NFR_STAT_"):] for n in names if n and n != "NFR_STAT_MAX"]


STAT_NAMES = _stat_names()

# Lab addresses (scripts/lab.sh).
CLI4, RTR_CLI4, RTR_SRV4, SRV4 = "10.77.0.2", "10.77.0.1", "10.77.1.1", "10.77.1.2"
CLI6, RTR_CLI6, RTR_SRV6, SRV6 = "fd77::2", "fd77::1", "fd77:1::1", "fd77:1::2"

_counter = [0]


def _next_id():
    _counter[0] += 1
    return _counter[0]


def agent_binary():
    path = os.environ.get("NFR_AGENT", "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"NFR_AGENT={path!r} is not an executable nfr-agent (ctest sets it)")
    return path


def ctl_binary():
    path = os.environ.get("NFR_CTL", "")
    return path if path and os.access(path, os.X_OK) else None


def run(argv, timeout=30, check=True, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check, **kw)


def native_capable():
    """The patched kernel's capability sysctl is present (the agent also probes by test run)."""
    return NATIVE_SYSCTL.exists()


def require_native():
    if not native_capable():
        raise unittest.SkipTest(f"{NATIVE_SYSCTL} missing: the kernel lacks the tc -> netfilter "
                                "pathway (run in the VM: tests/vm/run.sh --script "
                                "tests/vm/guest/agent_suite.sh --mode native BUILD_DIR)")


def module_params():
    """The loaded nfr_redirect module's parameters (strings), or None when not loaded."""
    if not MODULE_PARAMS.is_dir():
        return None
    return {p.name: p.read_text().strip() for p in MODULE_PARAMS.iterdir()}


def prepare_native_module(queue_num, queue_count):
    """The module's queue parameters are fixed at load time. If it was loaded with other numbers
    than this agent's, unload it (no other agent may be using it then) and load it again: with
    insmod NFR_IT_KMOD (a .ko path, the VM) or else by the agent itself (modprobe)."""
    params = module_params()
    if params is not None:
        if (params.get("queue_ingress") == str(queue_num) and params.get("queue_egress") ==
                str(queue_num) and params.get("queue_count") == str(queue_count)):
            return
        r = run(["rmmod", "nfr_redirect"], check=False)
        if r.returncode != 0:
            raise AssertionError(f"rmmod nfr_redirect (loaded with {params}, agent needs queue "
                                 f"{queue_num} count {queue_count}) failed: {r.stderr.strip()}")
    kmod = os.environ.get("NFR_IT_KMOD")
    if kmod:
        run(["insmod", kmod, f"queue_ingress={queue_num}", f"queue_egress={queue_num}",
             f"queue_count={queue_count}"])


def ensure_bpffs():
    if not os.path.ismount(BPF_FS):
        run(["mount", "-t", "bpf", "bpf", str(BPF_FS)])


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _die_with_parent():
    """Child side of Popen: SIGTERM when the test process dies (e.g. killed by a ctest timeout);
    survives exec, so the agent still shuts down cleanly."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def clean_stale():
    """Removes namespaces and pin dirs left by integration runs whose process is gone."""
    netns = Path("/run/netns")
    if netns.is_dir():
        for p in netns.iterdir():
            m = re.fullmatch(r"nit(\d+)x\d+-(cli|rtr|srv)", p.name)
            if m and not _pid_alive(int(m.group(1))):
                # Processes a dead run started in its namespace (agent, servers), by pid.
                for pid in run(["ip", "netns", "pids", p.name], check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                run(["ip", "netns", "del", p.name], check=False)
    if BPF_FS.is_dir():
        for p in BPF_FS.iterdir():
            m = re.fullmatch(re.escape(PIN_PREFIX) + r"(\d+)-\d+", p.name)
            if m and not _pid_alive(int(m.group(1))):
                shutil.rmtree(p, ignore_errors=True)
    # Ownership lock files a SIGKILLed agent of a dead test run left for its pin dir.
    locks = Path("/run/nfr")
    if locks.is_dir():
        for p in locks.iterdir():
            m = re.fullmatch(r"datapath-sys_fs_bpf_" + re.escape(PIN_PREFIX) + r"(\d+)-\d+\.lock",
                             p.name)
            if m and not _pid_alive(int(m.group(1))):
                p.unlink(missing_ok=True)


class Lab:
    """The three namespaces of scripts/lab.sh under a unique prefix."""

    def __init__(self, prefix=None):
        self.prefix = prefix or f"nit{os.getpid()}x{_next_id()}-"
        self.cli, self.rtr, self.srv = (self.prefix + s for s in ("cli", "rtr", "srv"))
        self._procs = []

    def up(self):
        r = run([str(LAB_SH), "up", "--prefix", self.prefix], check=False)
        if r.returncode != 0:
            raise RuntimeError(f"lab.sh up failed: {r.stdout}{r.stderr}")
        return self

    def down(self):
        for p in self._procs:
            stop_process(p)
        self._procs.clear()
        run([str(LAB_SH), "down", "--prefix", self.prefix], check=False)

    @staticmethod
    def nsenter(ns):
        return ["nsenter", f"--net=/run/netns/{ns}", "--"]

    def run(self, ns, argv, timeout=30, check=False):
        return run(self.nsenter(ns) + list(argv), timeout=timeout, check=check)

    def popen(self, ns, argv, **kw):
        p = subprocess.Popen(self.nsenter(ns) + list(argv), start_new_session=True,
                             preexec_fn=_die_with_parent, **kw)
        self._procs.append(p)
        return p

    def start_servers(self, tcp=(), udp=()):
        """netprobe servers in the server namespace (dual-stack, every port given)."""
        p = self.popen(self.srv, [PYTHON, str(NETPROBE), "serve",
                                  "--tcp", ",".join(map(str, tcp)),
                                  "--udp", ",".join(map(str, udp)), "--until-stdin-eof"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"netprobe server did not start: {line!r}")
        return p

    def _probe(self, argv, timeout):
        r = self.run(self.cli, [PYTHON, str(NETPROBE)] + argv, timeout=timeout + 10)
        try:
            out = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            out = {"ok": False, "error": f"netprobe output {r.stdout!r} {r.stderr!r}"}
        return out

    def tcp(self, addr, port, send=0, timeout=3.0, src=None):
        """Client connect from the client namespace; dict with ok, connect_ms, error."""
        return self._probe(["tcp", addr, str(port), "--send", str(send),
                            "--timeout", str(timeout)] + (["--src", src] if src else []), timeout)

    def tcp_async(self, addr, port, send=0, timeout=10.0):
        """Starts a client connect in the background; result(p) gives the tcp() dict."""
        return self.popen(self.cli, [PYTHON, str(NETPROBE), "tcp", addr, str(port), "--send",
                                     str(send), "--timeout", str(timeout)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def result(p, timeout=30):
        out, err = p.communicate(timeout=timeout)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"ok": False, "error": f"netprobe output {out!r} {err!r}"}

    def udp(self, addr, port, count=1, timeout=1.0):
        return self._probe(["udp", addr, str(port), "--count", str(count),
                            "--timeout", str(timeout)], timeout * count)

    def ping(self, addr, count=1, timeout=2):
        argv = ["ping", "-6" if ":" in addr else "-4", "-c", str(count), "-W", str(timeout),
                "-i", "0.2", addr]
        return self.run(self.cli, argv, timeout=timeout * count + 10).returncode == 0

    def tc_filters(self, dev="r-cli", direction="ingress"):
        r = self.run(self.rtr, ["tc", "filter", "show", "dev", dev, direction])
        # One "filter ... bpf ... handle H prog:[id] ..." line per attached program.
        return [l for l in r.stdout.splitlines() if " bpf " in l and " handle " in l]

    def compat_rules(self):
        """Netfilter rules in the router namespace that queue packets (any backend)."""
        rules = []
        for tool in ("iptables-legacy-save", "ip6tables-legacy-save"):
            if shutil.which(tool):
                rules += [l for l in self.run(self.rtr, [tool]).stdout.splitlines()
                          if "NFQUEUE" in l]
        if shutil.which("nft"):
            rules += [l.strip() for l in self.run(self.rtr, ["nft", "list", "ruleset"]).stdout
                      .splitlines() if re.search(r"\bqueue\b|NFQUEUE", l)]
        return rules


def _close_pipes(p):
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            try:
                f.close()
            except OSError:
                pass


def stop_process(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is not None:
        p.wait()
        _close_pipes(p)
        return p.returncode
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = p.wait(5)
    _close_pipes(p)
    return rc


def default_config(lab, workdir, pin_dir, queue_num, name="agent"):
    """A complete, test-private agent config: own pins, socket, DB and queue; r-cli ingress.
    The DB is per agent name: an agent restarts into the policy stored there, not the file's."""
    return {
        "interfaces": [{"name": "r-cli"}],
        **({"mode": "MODE_NATIVE"} if NATIVE else {}),
        "queue": {"num": queue_num},
        "bpfPinDir": str(pin_dir),
        "api": {"unixSocket": str(Path(workdir) / f"{name}.sock"), "socketGroup": "root"},
        "store": {"dbPath": str(Path(workdir) / f"{name}.db")},
        "policy": {"defaultVerdict": "VERDICT_DROP", "rules": []},
    }


def rule(rid, action, protocol=None, dst_port=None, dst=None, src=None, **extra):
    r = {"id": rid, "action": "ACTION_" + action.upper()}
    if protocol:
        r["protocol"] = "PROTOCOL_" + protocol.upper()
    if dst_port is not None:
        r["dstPorts"] = [{"first": dst_port}]
    if dst:
        r["dstPrefixes"] = [dst]
    if src:
        r["srcPrefixes"] = [src]
    r.update(extra)
    return r


class Agent:
    """One real nfr-agent process in the lab router namespace."""

    START_RE = re.compile(r"nfr-agent: mode=")

    def __init__(self, lab, workdir, config=None, pin_dir=None, queue_num=None, name="agent"):
        self.lab = lab
        self.workdir = Path(workdir)
        n = _next_id()
        self.pin_dir = Path(pin_dir) if pin_dir else BPF_FS / f"{PIN_PREFIX}{os.getpid()}-{n}"
        if NATIVE:
            queue_num = NATIVE_QUEUE
        self.queue_num = queue_num if queue_num is not None else 4200 + n
        self.config = config if config is not None else default_config(
            lab, workdir, self.pin_dir, self.queue_num, name)
        self.name = name
        self.config_path = self.workdir / f"{name}.json"
        self.log_path = self.workdir / f"{name}.log"
        self.proc = None
        self.starts = 0

    @property
    def socket(self):
        return self.config.get("api", {}).get("unixSocket")

    def write_config(self):
        self.config_path.write_text(json.dumps(self.config, indent=2))

    def argv(self, extra=()):
        return [agent_binary(), f"--config={self.config_path}"] + list(extra)

    def start(self, extra=(), wait=True, timeout=20):
        if NATIVE:
            q = self.config.get("queue", {})
            prepare_native_module(q.get("num", NATIVE_QUEUE), q.get("count", 1))
        self.write_config()
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"---- start #{self.starts}: {' '.join(self.argv(extra))}\n")
        log.flush()
        self.proc = self.lab.popen(self.lab.rtr, self.argv(extra), stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_started(timeout)
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _current_log(self):
        text = self.log()
        marker = f"---- start #{self.starts}:"
        i = text.rfind(marker)
        return text[i:] if i >= 0 else text

    def wait_started(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.START_RE.search(self._current_log()):
                if NATIVE and self.mode() != "native":
                    raise AssertionError("NFR_IT_MODE=native but the agent did not log "
                                         "mode=native:\n" + self._current_log())
                if EXPECT_COMPAT and not self.compat_reason():
                    raise AssertionError("NFR_IT_MODE=compat but the agent did not log "
                                         "mode=compat with a reason:\n" + self._current_log())
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"nfr-agent exited with {self.proc.returncode} before its start line:\n"
                    + self._current_log())
            time.sleep(0.05)
        raise AssertionError(f"nfr-agent printed no start line in {timeout}s:\n" + self._current_log())

    def mode(self):
        """"native" or "compat", from the start line of the current run."""
        m = re.search(r"nfr-agent: mode=(\w+)", self._current_log())
        return m.group(1) if m else None

    def compat_reason(self):
        """Why the agent runs in compat mode ("kernel lacks tc_nf_redirect"), from the start line
        of the current run; None unless it logged mode=compat with a non-empty reason."""
        m = re.search(r"nfr-agent: mode=compat \(([^)]+)\)", self._current_log())
        return m.group(1).strip() if m and m.group(1).strip() else None

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self._current_log())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} in {timeout}s:\n" + self._current_log())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        return stop_process(self.proc, sig, timeout)

    def kill(self):
        """SIGKILL: no cleanup runs, like a crash."""
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stats(self):
        st = read_stats(self.pin_dir / "nfr_stats")
        if self.mode() == "native":
            # Native mode: packets go up by the redirect, never by the compat mark, and the
            # kernel never refuses the flag.
            if st["TO_COMPAT"] or st["NATIVE_REFUSED"]:
                raise AssertionError(f"native agent counted compat/refused packets: {st}")
        elif self.mode() == "compat" and st["TO_NATIVE"]:
            raise AssertionError(f"compat agent counted native redirects: {st}")
        return st

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.pin_dir, ignore_errors=True)


def read_stats(pinned):
    """nfr_stats (per-CPU array) summed over CPUs, keyed by STAT_NAMES."""
    r = run(["bpftool", "-j", "map", "dump", "pinned", str(pinned)], check=False)
    if r.returncode != 0:
        raise AssertionError(f"bpftool map dump {pinned} failed: {r.stderr.strip()}")
    stats = dict.fromkeys(STAT_NAMES, 0)
    for entry in json.loads(r.stdout):
        if "formatted" in entry:
            entry = entry["formatted"]
        key = entry["key"]
        if isinstance(key, list):
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little")
        total = 0
        for v in entry["values"]:
            val = v["value"]
            if isinstance(val, list):
                val = int.from_bytes(bytes(int(b, 16) for b in val), "little")
            total += int(val)
        if key < len(STAT_NAMES):
            stats[STAT_NAMES[key]] = total
    stats["SENT_UP"] = stats["TO_NATIVE"] + stats["TO_COMPAT"]
    return stats


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after}


class LabTestCase(unittest.TestCase):
    """A lab (three namespaces + servers) per class, a temp dir and agents per test."""

    TCP_PORTS = (8001, 8002, 8003, 8004, 8005, 8006, 8007, 8008, 8009)
    UDP_PORTS = (5301, 5302, 5303)

    @classmethod
    def setUpClass(cls):
        agent_binary()
        if NATIVE:
            require_native()
        ensure_bpffs()
        cls.lab = Lab()
        try:
            cls.lab.up()
            cls.servers = cls.lab.start_servers(cls.TCP_PORTS, cls.UDP_PORTS)
        except Exception:
            cls.lab.down()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="nfr-it-")
        self.agents = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for a in self.agents:
            a.cleanup()
        keep = os.environ.get("NFR_IT_KEEP")
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def agent(self, rules=(), default="drop", **cfg):
        """An Agent with the test's policy; cfg keys merge into the config (camelCase)."""
        a = Agent(self.lab, self.workdir, name=f"agent{len(self.agents)}")
        a.config["policy"] = {"defaultVerdict": "VERDICT_" + default.upper(),
                              "rules": list(rules)}
        for k, v in cfg.items():
            if k == "policy":
                a.config["policy"].update(v)
            else:
                a.config[k] = v
        self.agents.append(a)
        return a

    def agent_logs(self):
        return "\n".join(f"==== {a.log_path}\n{a.log()}" for a in self.agents)

    def assertConnects(self, res, what=""):
        if not res.get("ok"):
            self.fail(f"{what}: expected success, got {res}\n{self.agent_logs()}")

    def assertFails(self, res, what=""):
        if res.get("ok"):
            self.fail(f"{what}: expected failure, got {res}\n{self.agent_logs()}")


def main():
    """Entry point used by ctest: root check (exit 77 = skipped), stale cleanup, unittest."""
    if os.geteuid() != 0:
        print("integration tests need root (network namespaces, BPF, netfilter): skipped")
        sys.exit(77)
    clean_stale()
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    r = prog.result
    if r.skipped and len(r.skipped) >= r.testsRun and r.wasSuccessful():
        sys.exit(77)  # everything skipped (e.g. no nfrctl): ctest shows it as skipped
    sys.exit(0 if r.wasSuccessful() else 1)


def parse_json_values(text):
    """A sequence of JSON values (one per line or pretty-printed) as a list."""
    dec, values, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return values
        v, i = dec.raw_decode(text, i)
        values.append(v)


class CtlLabTestCase(LabTestCase):
    """A LabTestCase whose tests also run nfrctl (skipped when NFR_CTL is not set)."""

    @classmethod
    def setUpClass(cls):
        if not ctl_binary():
            raise unittest.SkipTest("NFR_CTL is not an executable nfrctl (ctest sets it)")
        super().setUpClass()


class Ctl:
    """nfrctl (the real binary, a subprocess) against one agent's Unix socket."""

    def __init__(self, agent):
        path = ctl_binary()
        if not path:
            raise unittest.SkipTest("NFR_CTL is not an executable nfrctl (ctest sets it)")
        self.argv = [path, "--target", f"unix://{agent.socket}"]

    def run(self, *args, json_out=True, timeout=20):
        """(exit code, parsed JSON lines or text, stderr)."""
        argv = self.argv + (["-o", "json"] if json_out else []) + list(args)
        r = run(argv, timeout=timeout, check=False)
        out = r.stdout
        if json_out and r.returncode == 0:
            out = parse_json_values(r.stdout)
        return r.returncode, out, r.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.run(*args, **kw)
        if rc != 0:
            raise AssertionError(f"nfrctl {' '.join(args)} exited {rc}: {err}")
        return out

    def watch(self, *args):
        """`nfrctl -o json pending watch ...` as a live subprocess; returns a Watcher."""
        return Watcher(self.argv + ["-o", "json", "pending", "watch"] + list(args))


class Watcher:
    """Reads JSON events from a watch subprocess on a thread; tests wait for matching events."""

    def __init__(self, argv):
        import queue
        import threading
        self.events = queue.Queue()
        self.seen = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)

        def pump():
            for line in self.proc.stdout:
                if line.strip():
                    try:
                        self.events.put(json.loads(line))
                    except ValueError:
                        self.events.put({"unparsed": line})
            self.events.put(None)

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()

    def wait_for(self, pred, timeout=10, what="event"):
        import queue
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"watcher: no {what} in {timeout}s; saw {self.seen}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"watcher exited ({self.proc.poll()}) before {what}: "
                                     f"{err}; saw {self.seen}")
            self.seen.append(ev)
            if pred(ev):
                return ev

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.thread.join(5)
        _close_pipes(self.proc)
