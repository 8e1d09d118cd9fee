#!/bin/bash
# shellcheck disable=SC2034,SC2317 # tests are called indirectly, lib vars used by tests.sh
# Helpers for the VM guest tests: namespaces, tc program config, listeners,
# traffic.  Sourced by guest/tests.sh.

QL=${NFR_VM_TOOLS:-/mnt/tools}/nfr-qlistener
OBJ=${NFR_VM_BPF_OBJ:-/mnt/tools/nfr_vm_test.bpf.o}
MOD=${NFR_VM_MODULE:-/mnt/nfr_redirect.ko}
PIN=/sys/fs/bpf/tc/globals
NF=1 REDIRECT=2 NF_BADIDX=3 NF_THEN_OK=4 BARE=5 NF_CLASSID=6 TCINDEX=7

MAC_C0=02:77:00:00:00:02 MAC_RCLI=02:77:00:00:00:01
MAC_S0=02:77:00:00:01:02 MAC_RSRV=02:77:00:00:01:01

# run in a netns, keeping this mount namespace (bpffs pins stay visible);
# background jobs call nsenter directly so that $! is the program itself
nx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# tests run in a subshell (see tests.sh run()): die ends the test
die() { echo "$*"; exit 1; }

ifindex() { ip -n "$1" -o link show dev "$2" | cut -d: -f1; }

le32() { printf '%d %d %d %d' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
macbytes() { local m; for m in ${1//:/ }; do printf '%d ' $((16#$m)); done; }

# created in the initial netns, then moved: ifindexes stay unique across
# namespaces, so the test program's per-ifindex config cannot collide
veth_pair() { # ns1 if1 ns2 if2
	ip link add "$2" type veth peer name "$4"
	ip link set "$2" netns "$1"
	ip link set "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

addr() { ip -n "$1" addr add "$3" dev "$2" nodad 2>/dev/null || ip -n "$1" addr add "$3" dev "$2"; }

# cli (c0) <-> rtr (r-cli | r-srv) <-> srv (s0), forwarding on in rtr
topo() {
	local ns
	for ns in cli rtr srv; do
		ip netns add $ns
		ip -n $ns link set lo up
	done
	veth_pair cli c0 rtr r-cli
	veth_pair srv s0 rtr r-srv
	ip -n cli link set c0 address $MAC_C0
	ip -n rtr link set r-cli address $MAC_RCLI
	ip -n rtr link set r-srv address $MAC_RSRV
	ip -n srv link set s0 address $MAC_S0
	addr cli c0 10.77.0.2/24; addr cli c0 fd77::2/64
	addr rtr r-cli 10.77.0.1/24; addr rtr r-cli fd77::1/64
	addr rtr r-srv 10.77.1.1/24; addr rtr r-srv fd77:1::1/64
	addr srv s0 10.77.1.2/24; addr srv s0 fd77:1::2/64
	ip -n cli route add default via 10.77.0.1
	ip -n cli -6 route add default via fd77::1
	ip -n srv route add default via 10.77.1.1
	ip -n srv -6 route add default via fd77:1::1
	nx rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

cleanup() {
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for p in $(ip netns list | awk '{print $1}'); do ip netns del "$p"; done
	rm -rf "$PIN"/nfr_vm_cfg "$PIN"/nfr_vm_stats /tmp/nfr-t
	mkdir -p /tmp/nfr-t
}

# attach the test program: attach NS IF ingress|egress
attach() {
	nx "$1" tc qdisc add dev "$2" clsact 2>/dev/null
	nx "$1" tc filter add dev "$2" "$3" bpf da obj "$OBJ" sec tc ||
		die "tc filter add on $1/$2 $3 failed"
}

# configure the program for an interface: cfg NS IF ACTION [TARGET_IF DMAC SMAC]
cfg() {
	local idx tgt=0 dmac=00:00:00:00:00:00 smac=00:00:00:00:00:00
	idx=$(ifindex "$1" "$2")
	if [[ $# -gt 3 ]]; then
		tgt=$(ifindex "$1" "$4")
		dmac=$5 smac=$6
	fi
	# shellcheck disable=SC2046
	bpftool map update pinned $PIN/nfr_vm_cfg key $(le32 "$idx") \
		value $(le32 "$3") $(le32 "$tgt") $(macbytes $dmac) $(macbytes $smac) ||
		die "map update for $1/$2 failed"
}

# bpf_stat NS IF seen|redirect|shot|tcindex
bpf_stat() {
	local idx off hex
	idx=$(ifindex "$1" "$2")
	case $3 in seen) off=0 ;; redirect) off=8 ;; shot) off=16 ;; tcindex) off=24 ;; esac
	# shellcheck disable=SC2046
	hex=$(bpftool -j map lookup pinned $PIN/nfr_vm_stats key $(le32 "$idx") 2>/dev/null |
		jq -r ".value[$off:$((off + 8))] | reverse | map(ltrimstr(\"0x\")) | join(\"\")")
	echo $((16#${hex:-0}))
}

# listener NS QUEUE VERDICT [--gso]; sets LPID, LLOG
listener() {
	local ns=$1 q=$2 v=$3 i
	shift 3
	LLOG=/tmp/nfr-t/ql-$ns-$q.log
	rm -f /tmp/nfr-t/ql.ready
	nsenter --net="/run/netns/$ns" "$QL" --queue "$q" --verdict "$v" --ready /tmp/nfr-t/ql.ready "$@" >"$LLOG" 2>&1 &
	LPID=$!
	for i in $(seq 100); do
		[[ -e /tmp/nfr-t/ql.ready ]] && return 0
		sleep 0.1
	done
	cat "$LLOG"
	die "listener on queue $q in $ns did not start"
}

# stop_listener PID: SIGTERM and wait, the summary line lands in its log
stop_listener() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; true; }

count_hook() { grep -c "^pkt .*hook=$2 " "$1" || true; }

# tcp_server NS PORT OUTFILE [6]: one connection, data to OUTFILE
tcp_server() {
	local ns=$1 port=$2 out=$3 fam=${4:-} i
	nsenter --net="/run/netns/$ns" socat -u "TCP${fam}-LISTEN:$port,reuseaddr" "OPEN:$out,creat,trunc" &
	SPID=$!
	for i in $(seq 50); do
		nx "$ns" ss -Hltn "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	die "tcp server in $ns did not listen"
}

# tcp_send NS DEST PORT FILE [6]: send FILE, returns socat's status
tcp_send() {
	local ns=$1 dst=$2 port=$3 file=$4 fam=${5:-}
	[[ -n $fam ]] && dst="[$dst]"
	timeout 60 nsenter --net="/run/netns/$ns" socat -u "OPEN:$file" "TCP${fam}:$dst:$port,connect-timeout=4"
}

mkdata() { head -c "$2" /dev/urandom >"$1"; }
same_file() { [[ $(sha256sum <"$1") == $(sha256sum <"$2") ]]; }

# transfer NS_FROM NS_TO DEST BYTES [6]: full TCP transfer + checksum
transfer() {
	local from=$1 to=$2 dst=$3 bytes=$4 fam=${5:-}
	mkdata /tmp/nfr-t/data "$bytes"
	tcp_server "$to" 8080 /tmp/nfr-t/recv "$fam" || return 1
	tcp_send "$from" "$dst" 8080 /tmp/nfr-t/data "$fam" || { kill $SPID 2>/dev/null; die "send to $dst failed"; }
	wait $SPID
	same_file /tmp/nfr-t/data /tmp/nfr-t/recv ||
		die "payload mismatch: sent $(stat -c %s /tmp/nfr-t/data 2>/dev/null) bytes, got $(wc -c </tmp/nfr-t/recv)"
}

# connect_fails NS DEST: a TCP connect must not succeed
connect_fails() {
	local from=$1 dst=$2
	tcp_server srv 8080 /tmp/nfr-t/recv || return 1
	echo hello >/tmp/nfr-t/hello
	if tcp_send "$from" "$dst" 8080 /tmp/nfr-t/hello; then
		kill $SPID 2>/dev/null
		die "connection to $dst succeeded"
	fi
	kill $SPID 2>/dev/null
	wait $SPID 2>/dev/null
	true
}

nfr_counter() { nx "$1" awk -v k="$2" '$1 == k {print $2}' /proc/net/nfr_redirect; }

module_load() { insmod "$MOD" "$@" || die "insmod $MOD $* failed"; }
module_unload() { ! grep -q '^nfr_redirect ' /proc/modules || timeout 60 rmmod nfr_redirect; }
