"""Pinned BPF maps from Python (bpf(2) through ctypes): the tests write flow-cache entries and
rewrite nfr_config without a bpftool process per entry. Layouts: bpf/nfr_abi.h."""
import ctypes
import os
import socket
import struct
import time

_SYS_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
_BPF_MAP_LOOKUP_ELEM, _BPF_MAP_UPDATE_ELEM, _BPF_OBJ_GET = 1, 2, 7
_libc = ctypes.CDLL(None, use_errno=True)

VERDICT_ALLOW, VERDICT_DENY = 1, 2
ORIGIN_POLICY, ORIGIN_CONTROLLER = 1, 2
# struct nfr_config: mode, flags, compat_mark, pending_ttl_ms, budget_rate, budget_burst,
# layout_version (all __u32).
CONFIG_FMT = "<7I"


def _bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = _libc.syscall(_SYS_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


class PinnedMap:
    def __init__(self, path):
        p = ctypes.create_string_buffer(str(path).encode())
        self._path = p  # keep alive during the call
        self.fd = _bpf(_BPF_OBJ_GET, struct.pack("<QII", ctypes.addressof(p), 0, 0))

    def close(self):
        os.close(self.fd)

    def update(self, key, value):
        k, v = ctypes.create_string_buffer(key), ctypes.create_string_buffer(value)
        _bpf(_BPF_MAP_UPDATE_ELEM, struct.pack("<IIQQQ", self.fd, 0, ctypes.addressof(k),
                                               ctypes.addressof(v), 0))

    def lookup(self, key, value_size):
        k, v = ctypes.create_string_buffer(key), ctypes.create_string_buffer(value_size)
        _bpf(_BPF_MAP_LOOKUP_ELEM, struct.pack("<IIQQQ", self.fd, 0, ctypes.addressof(k),
                                               ctypes.addressof(v), 0))
        return v.raw[:value_size]


def flow_key(proto, saddr, sport, daddr, dport):
    """struct nfr_flow_key for IPv4 (40 bytes): family, proto, pad, ports, 4+4 address words."""
    return (struct.pack("<BBH", socket.AF_INET, proto, 0) + struct.pack("!HH", sport, dport) +
            socket.inet_aton(saddr) + bytes(12) + socket.inet_aton(daddr) + bytes(12))


def flow_value(verdict, origin, ttl_s, ifindex=0, rule=0, origin_id=0):
    """struct nfr_flow_value (32 bytes); expiry on CLOCK_MONOTONIC like bpf_ktime_get_ns."""
    expires = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + int(ttl_s * 1e9) if ttl_s else 0
    return struct.pack("<QIBBHIIQ", expires, verdict, origin, 0, 0, ifindex, rule, origin_id)


def read_config(pin_dir):
    m = PinnedMap(f"{pin_dir}/nfr_config")
    try:
        return list(struct.unpack(CONFIG_FMT, m.lookup(struct.pack("<I", 0),
                                                       struct.calcsize(CONFIG_FMT))))
    finally:
        m.close()


def write_config(pin_dir, values):
    m = PinnedMap(f"{pin_dir}/nfr_config")
    try:
        m.update(struct.pack("<I", 0), struct.pack(CONFIG_FMT, *values))
    finally:
        m.close()
