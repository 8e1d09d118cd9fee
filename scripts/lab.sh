#!/usr/bin/env bash
# Three-namespace lab for nfr-agent: PcLI <-> PrTR (forwards) <-> PsRV, where P is the prefix
# (default "nfr-"). Every interface is created inside a lab namespace; host interfaces are
# never touched. Usage: lab.sh up|down|status [--prefix P]
set -euo pipefail

usage() {
  cat <<EOF
usage: $0 up|down|status [--prefix P]

  up      create namespaces \${P}cli, \${P}rtr, \${P}srv with veth links and IPv4/IPv6
          addresses (idempotent: an existing complete lab is left as is)
  down    delete the three namespaces (and with them every veth, tc filter and rule)
  status  show namespaces, addresses and a ping check across the router

  --prefix P   namespace name prefix (default nfr-); tests use a unique one

Topology:
  \${P}cli  c0    10.77.0.2/24 fd77::2/64     default via 10.77.0.1 / fd77::1
  \${P}rtr  r-cli 10.77.0.1/24 fd77::1/64     ip_forward on (IPv4 + IPv6)
           r-srv 10.77.1.1/24 fd77:1::1/64
  \${P}srv  s0    10.77.1.2/24 fd77:1::2/64   default via 10.77.1.1 / fd77:1::1
EOF
}

cmd="${1:-}"
if [[ -n "$cmd" ]]; then shift; fi
prefix="nfr-"
while (($#)); do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "lab.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ ! "$prefix" =~ ^[A-Za-z0-9_.-]{1,20}$ ]]; then
  echo "lab.sh: bad --prefix '$prefix' (use 1-20 of [A-Za-z0-9_.-])" >&2
  exit 2
fi

CLI="${prefix}cli"
RTR="${prefix}rtr"
SRV="${prefix}srv"

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "lab.sh: must run as root (creates network namespaces)" >&2
    exit 1
  fi
}

ns_exists() { [[ -e "/run/netns/$1" ]]; }
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

lab_complete() {
  ns_exists "$CLI" && ns_exists "$RTR" && ns_exists "$SRV" &&
    ip -n "$CLI" link show c0 >/dev/null 2>&1 &&
    ip -n "$RTR" link show r-cli >/dev/null 2>&1 &&
    ip -n "$RTR" link show r-srv >/dev/null 2>&1 &&
    ip -n "$SRV" link show s0 >/dev/null 2>&1
}

ns_sysctls() {
  local ns="$1"
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 \
    net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
}

wait_up() {
  local ns="$1" dev="$2" i
  for ((i = 0; i < 100; i++)); do
    if ip -n "$ns" -br link show dev "$dev" 2>/dev/null | grep -q ' UP '; then
      return 0
    fi
    sleep 0.05
  done
  echo "lab.sh: $ns/$dev did not come up" >&2
  return 1
}

lab_down() {
  local ns
  for ns in "$CLI" "$RTR" "$SRV"; do
    if ns_exists "$ns"; then
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

lab_up() {
  if lab_complete; then
    echo "lab.sh: lab '${prefix}' already up"
    return 0
  fi
  lab_down  # a partial lab is rebuilt from scratch
  ip netns add "$CLI"
  ip netns add "$RTR"
  ip netns add "$SRV"
  local ns
  for ns in "$CLI" "$RTR" "$SRV"; do
    ns_sysctls "$ns"
    ip -n "$ns" link set lo up
  done
  in_ns "$RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null

  # Both veth ends are created inside lab namespaces (never in the caller's namespace).
  ip -n "$RTR" link add r-cli type veth peer name c0 netns "$CLI"
  ip -n "$RTR" link add r-srv type veth peer name s0 netns "$SRV"

  ip -n "$CLI" addr add 10.77.0.2/24 dev c0
  ip -n "$CLI" addr add fd77::2/64 dev c0 nodad
  ip -n "$RTR" addr add 10.77.0.1/24 dev r-cli
  ip -n "$RTR" addr add fd77::1/64 dev r-cli nodad
  ip -n "$RTR" addr add 10.77.1.1/24 dev r-srv
  ip -n "$RTR" addr add fd77:1::1/64 dev r-srv nodad
  ip -n "$SRV" addr add 10.77.1.2/24 dev s0
  ip -n "$SRV" addr add fd77:1::2/64 dev s0 nodad

  ip -n "$CLI" link set c0 up
  ip -n "$RTR" link set r-cli up
  ip -n "$RTR" link set r-srv up
  ip -n "$SRV" link set s0 up

  ip -n "$CLI" route add default via 10.77.0.1
  ip -n "$CLI" -6 route add default via fd77::1
  ip -n "$SRV" route add default via 10.77.1.1
  ip -n "$SRV" -6 route add default via fd77:1::1

  wait_up "$CLI" c0
  wait_up "$RTR" r-cli
  wait_up "$RTR" r-srv
  wait_up "$SRV" s0
  echo "lab.sh: lab '${prefix}' up: ${CLI} (10.77.0.2) <-> ${RTR} <-> ${SRV} (10.77.1.2)"
}

lab_status() {
  local ns rc=0
  for ns in "$CLI" "$RTR" "$SRV"; do
    if ns_exists "$ns"; then
      echo "== $ns"
      ip -n "$ns" -br addr show | grep -v '^lo ' || true
    else
      echo "== $ns: missing"
      rc=1
    fi
  done
  if ((rc == 0)); then
    local v4=down v6=down
    in_ns "$CLI" ping -c1 -W1 -q 10.77.1.2 >/dev/null 2>&1 && v4=ok
    in_ns "$CLI" ping -6 -c1 -W1 -q fd77:1::2 >/dev/null 2>&1 && v6=ok
    echo "ping ${CLI} -> ${SRV}: ipv4 $v4, ipv6 $v6"
    [[ $v4 == ok && $v6 == ok ]] || rc=1
  fi
  return $rc
}

case "$cmd" in
  up) need_root; lab_up ;;
  down) need_root; lab_down; echo "lab.sh: lab '${prefix}' down" ;;
  status) need_root; lab_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
