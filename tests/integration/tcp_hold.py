#!/usr/bin/env python3
"""Opens COUNT TCP connections to ADDR PORT (optionally from --src), one after another, prints one
JSON line with each attempt's outcome ("ok", "refused", "reset", "timeout" or an error), then
holds the open ones until stdin closes. Used to fill the agent's TCP connection cap."""
import argparse
import errno
import json
import socket
import sys


def attempt(addr, port, src, timeout):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((addr, port))
        return "ok", s
    except ConnectionRefusedError:
        outcome = "refused"
    except ConnectionResetError:
        outcome = "reset"
    except socket.timeout:
        outcome = "timeout"
    except OSError as e:
        outcome = errno.errorcode.get(e.errno, str(e))
    s.close()
    return outcome, None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--src")
    p.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    held, outcomes = [], []
    for _ in range(a.count):
        outcome, s = attempt(a.addr, a.port, a.src, a.timeout)
        outcomes.append(outcome)
        if s is not None:
            held.append(s)
    print(json.dumps({"outcomes": outcomes}), flush=True)
    sys.stdin.read()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
