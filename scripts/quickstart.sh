#!/usr/bin/env bash
# Quick start: installs dependencies, builds, creates the lab (three network
# namespaces joined by veth pairs), runs nfr-agent with its embedded default
# config on the lab router and drives a few connections through it so you can
# watch them being held and decided. Run as root.
#   --keep   leave the lab and the agent running afterwards (stop: scripts/lab.sh down)
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[[ "${1:-}" == --keep ]] && KEEP=1
if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart.sh: run as root (it creates network namespaces and attaches BPF programs)" >&2
  exit 1
fi
NFR_SKIP_VM=1 scripts/install-deps.sh
scripts/build.sh
BUILD_DIR=${NFR_BUILD_DIR:-build}
AGENT=$BUILD_DIR/agent/nfr-agent
CTL=$BUILD_DIR/ctl/nfrctl
LOG=$(mktemp /tmp/nfr-quickstart.XXXXXX.log)

scripts/lab.sh up
in_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }
cleanup() {
  [[ -n "${AGENT_PID:-}" ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
  [[ -n "${SRV_PID:-}" ]] && kill "$SRV_PID" 2>/dev/null || true
  scripts/lab.sh down >/dev/null 2>&1 || true
}
[[ $KEEP == 1 ]] || trap cleanup EXIT

# Servers on the far side of the router: TCP 80 and 8080, UDP 53.
nsenter --net=/run/netns/nfr-srv python3 scripts/lab_server.py --tcp 80,8080,9999 --udp 53 \
  </dev/null >/dev/null 2>&1 &
SRV_PID=$!

# The agent, with embedded defaults, on the router's client-facing interface.
nsenter --net=/run/netns/nfr-rtr "$AGENT" --interfaces=r-cli </dev/null >"$LOG" 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do grep -q 'mode=' "$LOG" && break; sleep 0.2; done
echo "== agent started:"; grep 'mode=' "$LOG" || { cat "$LOG"; exit 1; }

probe() {  # probe DESCRIPTION ARGS...
  local what=$1; shift
  if in_ns nfr-cli python3 scripts/lab_client.py "$@"; then r=connected; else r=failed; fi
  printf '  %-52s %s\n' "$what" "$r"
}
echo "== connections from nfr-cli (10.77.0.2) to nfr-srv (10.77.1.2):"
probe "TCP 80   (rule web: accept)" --tcp 10.77.1.2 80
probe "TCP 80   sending 2 MB (only the SYN went to the agent)" --tcp 10.77.1.2 80 --send 2000000
probe "ICMP echo (accept)" --ping 10.77.1.2
probe "TCP 9999 (ask; nobody decides; default drop after 5 s)" --tcp 10.77.1.2 9999 --timeout 8
if [[ -x "$CTL" ]]; then
  echo "== TCP 8080 is held as pending; deciding it with nfrctl:"
  nsenter --net=/run/netns/nfr-cli python3 scripts/lab_client.py --tcp 10.77.1.2 8080 --timeout 10 &
  CLI_PID=$!
  ID=
  for _ in $(seq 30); do
    ID=$("$CTL" pending list -o json 2>/dev/null | python3 -c 'import json,sys
ids=[d["id"] for d in map(json.loads, filter(str.strip, sys.stdin)) if d["flow"]["dst_port"]==8080]
print(ids[0] if ids else "")' 2>/dev/null || true)
    [[ -n "$ID" ]] && break
    sleep 0.2
  done
  "$CTL" pending list || true
  if [[ -n "$ID" ]]; then "$CTL" decide "$ID" accept --reason quickstart || true; fi
  if wait "$CLI_PID"; then echo "  TCP 8080 connected after the decision"; else echo "  TCP 8080 failed"; fi
  echo "== agent status (bpf counters: cache_allow = packets decided in the kernel):"
  "$CTL" status || true
fi
echo "== agent log:"
cat "$LOG"
if [[ $KEEP == 1 ]]; then
  echo "== left running: agent pid $AGENT_PID, log $LOG; stop with: kill $AGENT_PID; scripts/lab.sh down"
fi
