#!/bin/bash
# shellcheck disable=SC2317 # test functions are called indirectly through run()
# Kernel tests for the tc -> netfilter redirect pathway, run inside the VM
# by tests/vm/run.sh.  Each test prints "PASS name" or "FAIL name: why".
# Tests run in order: without the module first, then with it.
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

FAILED=0
run() {
	local name=$1 out=/tmp/nfr-out.$1 rc
	cleanup
	(
		trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
		"$name"
	) >"$out" 2>&1 </dev/null
	rc=$?
	if ((rc == 0)); then
		echo "PASS ${name#test_}"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL ${name#test_}: $(tail -n 1 "$out")"
		tail -n 25 "$out" | sed 's/^/  | /'
	fi
}

# --- without the module ------------------------------------------------

test_sysctl_capability() {
	local v
	v=$(cat /proc/sys/net/core/tc_nf_redirect) || die "sysctl missing"
	[[ $v == 1 ]] || die "tc_nf_redirect is '$v', want 1"
	echo 2 >/proc/sys/net/core/tc_nf_redirect 2>/dev/null && die "sysctl is writable"
	ip netns add other
	v=$(nx other cat /proc/sys/net/core/tc_nf_redirect) || die "sysctl missing in a netns"
	[[ $v == 1 ]] || die "tc_nf_redirect in netns is '$v'"
}

# the agent's capability probe: BPF_PROG_TEST_RUN of a program calling
# bpf_redirect(0, BPF_F_NETFILTER) returns TC_ACT_REDIRECT (7) here, while a
# stock kernel returns TC_ACT_SHOT (2)
test_prog_test_run_probe() {
	local out
	bpftool prog load "$OBJ" /sys/fs/bpf/nfr_vm_probe type classifier || die "bpftool prog load failed"
	# shellcheck disable=SC2046
	bpftool map update pinned /sys/fs/bpf/nfr_vm_cfg key $(le32 1) value $(le32 $NF) $(printf '0 %.0s' $(seq 16)) ||
		die "map update failed"
	/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(
		"020000000001" "020000000002" "0800"
		"450000280000000040060000" "0a4d0002" "0a4d0102"
		"04d200500000000000000000" "50020000" "00000000"))' >/tmp/nfr-t/syn
	out=$(bpftool prog run pinned /sys/fs/bpf/nfr_vm_probe data_in /tmp/nfr-t/syn repeat 1 2>&1)
	rm -f /sys/fs/bpf/nfr_vm_probe /sys/fs/bpf/nfr_vm_cfg /sys/fs/bpf/nfr_vm_stats
	grep -q "Return value: 7" <<<"$out" || die "test run returned: $out (want 7, TC_ACT_REDIRECT)"
}

test_no_module_behaves_like_stock() {
	topo
	transfer cli srv 10.77.1.2 1000000 || die "baseline transfer without tc program failed"
	attach rtr r-cli ingress && attach cli c0 egress || return 1
	cfg rtr r-cli $NF && cfg cli c0 $NF || return 1
	transfer cli srv 10.77.1.2 1000000 || die "transfer with redirect but no hook failed"
	transfer cli srv fd77:1::2 300000 6 || die "IPv6 transfer with redirect but no hook failed"
	nx cli ping -c 2 -W 2 10.77.1.2 >/dev/null || die "ping failed"
	(($(bpf_stat rtr r-cli redirect) > 0)) || die "helper did not return TC_ACT_REDIRECT at ingress"
	(($(bpf_stat cli c0 redirect) > 0)) || die "helper did not return TC_ACT_REDIRECT at egress"
	[[ ! -e /proc/net/nfr_redirect ]] || die "/proc/net/nfr_redirect exists without the module"
}

test_flag_with_ifindex_refused() {
	topo
	attach rtr r-cli ingress || return 1
	cfg rtr r-cli $NF_BADIDX || return 1
	connect_fails cli 10.77.1.2 || return 1
	(($(bpf_stat rtr r-cli shot) > 0)) || die "bpf_redirect(1, BPF_F_NETFILTER) was not refused"
	(($(bpf_stat rtr r-cli redirect) == 0)) || die "bpf_redirect(1, BPF_F_NETFILTER) returned TC_ACT_REDIRECT"
}

test_ordinary_bpf_redirect() {
	topo
	# forwarding off: only the tc redirects connect cli and srv
	nx rtr sysctl -qw net.ipv4.ip_forward=0
	attach rtr r-cli ingress && attach rtr r-srv ingress || return 1
	cfg rtr r-cli $REDIRECT r-srv $MAC_S0 $MAC_RSRV || return 1
	cfg rtr r-srv $REDIRECT r-cli $MAC_C0 $MAC_RCLI || return 1
	transfer cli srv 10.77.1.2 500000 || return 1
	(($(bpf_stat rtr r-cli redirect) > 0)) || die "no redirect counted"
}

# --- with the module ---------------------------------------------------

test_module_load() {
	module_load || return 1
	[[ -r /proc/net/nfr_redirect ]] || die "/proc/net/nfr_redirect missing"
	ip netns add other
	nx other cat /proc/net/nfr_redirect | grep -q '^ingress_ipv4 0$' ||
		die "no per-netns counters in a new netns"
}

test_ingress_accept_delivered() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 accept || return 1
	transfer cli srv 10.77.1.2 2000 || return 1
	nx cli ping -c 2 -W 3 10.77.1.2 >/dev/null || die "ping through accept failed"
	stop_listener $LPID
	(($(count_hook "$LLOG" 6) > 0)) || die "listener saw no hook=6 packets"
	(($(count_hook "$LLOG" 7) == 0)) || die "listener saw hook=7 packets for ingress"
	grep -q "family=ipv4 proto=6 src=10.77.0.2 dst=10.77.1.2" "$LLOG" || die "no L3 IPv4 TCP packet in queue"
	(($(nfr_counter rtr ingress_ipv4) > 0)) || die "module counter ingress_ipv4 is 0"
}

test_ingress_drop_not_delivered() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 drop || return 1
	connect_fails cli 10.77.1.2 || return 1
	nx cli ping -c 2 -W 2 10.77.1.2 >/dev/null && die "ping passed a drop verdict"
	stop_listener $LPID
	(($(count_hook "$LLOG" 6) > 0)) || die "listener saw no packets"
}

test_egress_requeue_delivered() {
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 accept || return 1
	transfer cli srv 10.77.1.2 2000 || return 1
	stop_listener $LPID
	(($(count_hook "$LLOG" 7) > 0)) || die "listener saw no hook=7 packets"
	(($(count_hook "$LLOG" 6) == 0)) || die "listener saw hook=6 packets for egress"
	grep -q "family=ipv4 proto=6 src=10.77.0.2 dst=10.77.1.2" "$LLOG" || die "no L3 IPv4 TCP packet in queue"
}

test_egress_drop_not_delivered() {
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 drop || return 1
	connect_fails cli 10.77.1.2 || return 1
	stop_listener $LPID
}

# nfnetlink_queue segments GSO packets (listener without F_GSO): segments
# must keep their MAC header to be reinjected / requeued intact
test_gso_ingress_segmented() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 accept || return 1
	transfer cli srv 10.77.1.2 4000000 || return 1
	stop_listener $LPID
	(($(count_hook "$LLOG" 6) > 100)) || die "too few packets queued"
}

test_gso_egress_segmented() {
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 accept || return 1
	transfer cli srv 10.77.1.2 4000000 || return 1
	stop_listener $LPID
	(($(count_hook "$LLOG" 7) > 100)) || die "too few packets queued"
}

# listener with F_GSO: whole GSO packets go to userspace and back
test_gso_whole_both_hooks() {
	local max
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener rtr 4200 accept --gso || return 1
	local rpid=$LPID rlog=$LLOG
	listener cli 4200 accept --gso || return 1
	transfer cli srv 10.77.1.2 4000000 || return 1
	stop_listener $rpid
	stop_listener $LPID
	(($(count_hook "$rlog" 6) > 0)) || die "no ingress packets"
	(($(count_hook "$LLOG" 7) > 0)) || die "no egress packets"
	max=$(sed -n 's/^summary .*max_len=\([0-9]*\).*/\1/p' "$LLOG")
	echo "egress max queued packet $max bytes"
	tail -n 3 "$LLOG"
	((max > 1500)) || die "no GSO-sized packet seen at egress (max $max)"
}

test_ipv6_ingress() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 accept || return 1
	transfer cli srv fd77:1::2 1000000 6 || return 1
	nx cli ping -6 -c 2 -W 3 fd77:1::2 >/dev/null || die "ping6 failed"
	stop_listener $LPID
	grep -q "hook=6 .*family=ipv6 proto=6 src=fd77::2 dst=fd77:1::2" "$LLOG" || die "no IPv6 TCP packet at hook 6"
	grep -q "family=ipv6 proto=58 " "$LLOG" || die "no ICMPv6 echo queued"
	(($(nfr_counter rtr ingress_ipv6) > 0)) || die "module counter ingress_ipv6 is 0"
}

test_ipv6_egress() {
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 accept || return 1
	transfer cli srv fd77:1::2 1000000 6 || return 1
	stop_listener $LPID
	grep -q "hook=7 .*family=ipv6 proto=6 src=fd77::2 dst=fd77:1::2" "$LLOG" || die "no IPv6 TCP packet at hook 7"
	(($(nfr_counter cli egress_ipv6) > 0)) || die "module counter egress_ipv6 is 0"
}

test_ipv6_drop() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 drop || return 1
	nx cli ping -6 -c 2 -W 2 fd77:1::2 >/dev/null && die "ping6 passed a drop verdict"
	stop_listener $LPID
	true
}

# taps run before tc ingress and at transmit: a reinjected or requeued
# packet must not show up there a second time
test_taps_see_packet_once() {
	local tin tout
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener rtr 4200 accept || return 1
	local rpid=$LPID
	listener cli 4200 accept || return 1
	nsenter --net=/run/netns/rtr /usr/bin/python3 "$HERE/tapcount.py" r-cli in /tmp/nfr-t/tin.ready >/tmp/nfr-t/tin &
	tin=$!
	nsenter --net=/run/netns/cli /usr/bin/python3 "$HERE/tapcount.py" c0 out /tmp/nfr-t/tout.ready >/tmp/nfr-t/tout &
	tout=$!
	for _ in $(seq 100); do
		[[ -e /tmp/nfr-t/tin.ready && -e /tmp/nfr-t/tout.ready ]] && break
		sleep 0.1
	done
	nx cli ping -c 3 -i 0.3 -W 3 10.77.1.2 >/dev/null || die "ping failed"
	sleep 0.5
	kill -TERM $tin $tout
	wait $tin $tout
	stop_listener $rpid
	stop_listener $LPID
	(($(count_hook "$LLOG" 7) == 3)) || die "egress listener saw $(count_hook "$LLOG" 7) packets, want 3"
	[[ $(cat /tmp/nfr-t/tin) == 3 ]] || die "ingress tap saw $(cat /tmp/nfr-t/tin) echo requests, want 3"
	[[ $(cat /tmp/nfr-t/tout) == 3 ]] || die "egress tap saw $(cat /tmp/nfr-t/tout) echo requests, want 3"
}

test_iptables_legacy_and_nft_ingress() {
	local n
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 accept || return 1
	local rpid=$LPID rlog=$LLOG
	nx rtr iptables-legacy -A FORWARD -p tcp --dport 8080 -j ACCEPT || die "iptables-legacy rule failed to load"
	nx rtr ip6tables-legacy -A FORWARD -p tcp --dport 8080 -j ACCEPT || die "ip6tables-legacy rule failed to load"
	nx rtr iptables-legacy -t mangle -A PREROUTING -i r-cli -p tcp --dport 8080 -j NFQUEUE --queue-num 4300 ||
		die "iptables-legacy NFQUEUE rule failed to load"
	nx rtr nft -f - <<-'NFT' || die "nft inet ingress chain failed to load"
	table inet nfrvm {
		chain ing {
			type filter hook ingress device "r-cli" priority 0;
			tcp dport 8080 counter
		}
	}
	NFT
	listener rtr 4300 accept || return 1
	transfer cli srv 10.77.1.2 100000 || return 1
	transfer cli srv fd77:1::2 100000 6 || return 1
	stop_listener $LPID
	stop_listener $rpid
	n=$(nx rtr iptables-legacy -L FORWARD -v -x -n | awk '/dpt:8080/ {print $1}')
	((${n:-0} > 0)) || die "iptables-legacy FORWARD rule did not match"
	n=$(nx rtr ip6tables-legacy -L FORWARD -v -x -n | awk '/dpt:8080/ {print $1}')
	((${n:-0} > 0)) || die "ip6tables-legacy FORWARD rule did not match"
	nx rtr iptables-legacy-save | grep -q -- '--queue-num 4300' || die "iptables-legacy-save lost the rule"
	n=$(nx rtr nft list chain inet nfrvm ing | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	((${n:-0} > 0)) || die "nft inet ingress counter did not match"
	(($(count_hook "$LLOG" 0) > 0)) || die "PREROUTING NFQUEUE listener saw no hook=0 packets"
	(($(count_hook "$rlog" 6) > 0)) || die "redirect listener saw no hook=6 packets"
}

test_netns_isolation() {
	local la pa lb pb
	ip netns add a; ip netns add pa; ip netns add b; ip netns add pb
	veth_pair a a0 pa pa0
	veth_pair b b0 pb pb0
	addr a a0 10.77.11.1/24; addr pa pa0 10.77.11.2/24
	addr b b0 10.77.12.1/24; addr pb pb0 10.77.12.2/24
	attach a a0 ingress && cfg a a0 $NF || return 1
	attach b b0 ingress && cfg b b0 $NF || return 1
	listener a 4200 accept || return 1
	pa=$LPID la=$LLOG
	listener b 4200 accept || return 1
	pb=$LPID lb=$LLOG
	nx pa ping -c 3 -W 3 10.77.11.1 >/dev/null || die "ping into a failed"
	sleep 0.5
	grep -q "src=10.77.11.2" "$la" || die "listener in a missed its packets"
	grep -q "^pkt" "$lb" && die "listener in b saw packets of a"
	nx pb ping -c 3 -W 3 10.77.12.1 >/dev/null || die "ping into b failed"
	stop_listener $pa
	stop_listener $pb
	grep -q "src=10.77.12.2" "$lb" || die "listener in b missed its packets"
	grep -q "src=10.77.12" "$la" && die "listener in a saw packets of b"
	[[ $(nfr_counter a ingress_ipv4) == 3 ]] || die "counter in a: $(nfr_counter a ingress_ipv4), want 3"
	[[ $(nfr_counter b ingress_ipv4) == 3 ]] || die "counter in b: $(nfr_counter b ingress_ipv4), want 3"
}

test_no_listener_bypass() {
	local before
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	attach cli c0 egress && cfg cli c0 $NF || return 1
	before=$(nfr_counter rtr ingress_ipv4)
	transfer cli srv 10.77.1.2 200000 || die "traffic did not flow without a listener"
	(($(nfr_counter rtr ingress_ipv4) > before)) || die "packets did not go through the hook"
	(($(nfr_counter cli egress_ipv4) > 0)) || die "egress packets did not go through the hook"
}

test_fail_closed_drops() {
	module_unload || die "rmmod failed"
	module_load fail_closed=1 || return 1
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	grep -q '^fail_closed 1' /proc/net/nfr_redirect || die "fail_closed not reported"
	connect_fails cli 10.77.1.2 || return 1
	module_unload || die "rmmod failed"
	module_load || return 1
}

test_queue_fanout() {
	module_unload || die "rmmod failed"
	module_load queue_count=2 queue_ingress=4400 || return 1
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4400 accept || return 1
	local p0=$LPID l0=$LLOG
	listener rtr 4401 accept || return 1
	transfer cli srv 10.77.1.2 2000 || return 1
	stop_listener $p0
	stop_listener $LPID
	local n=$(($(count_hook "$l0" 6) + $(count_hook "$LLOG" 6)))
	((n > 0)) || die "no packets on queues 4400/4401"
	module_unload || die "rmmod failed"
	module_load || return 1
}

test_link_del_with_queued() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 hold || return 1
	nx cli ping -c 3 -i 0.2 -W 1 10.77.1.2 >/dev/null
	(($(count_hook "$LLOG" 6) > 0)) || die "no packets held"
	timeout 30 ip -n rtr link del r-cli || die "ip link del hung or failed with packets queued"
	kill -0 $LPID 2>/dev/null || die "listener died"
	stop_listener $LPID
}

test_rmmod_with_queued() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener rtr 4200 hold || return 1
	local rpid=$LPID rlog=$LLOG
	listener cli 4200 hold || return 1
	nx cli ping -c 3 -i 0.2 -W 1 10.77.1.2 >/dev/null
	(($(count_hook "$LLOG" 7) > 0)) || die "no egress packets held"
	tcp_server srv 8080 /tmp/nfr-t/recv
	nsenter --net=/run/netns/cli socat -u OPEN:/dev/null TCP:10.77.1.2:8080,connect-timeout=20 &
	sleep 1
	module_unload || die "rmmod nfr_redirect failed or hung with packets queued"
	timeout 30 ip -n rtr link del r-cli || die "ip link del hung after rmmod"
	stop_listener $rpid
	stop_listener $LPID
	module_load || return 1
	true
}

test_ordinary_bpf_redirect_with_module() {
	grep -q '^nfr_redirect ' /proc/modules || die "module not loaded"
	test_ordinary_bpf_redirect
}

# issue 10: what review of the patches found

# a packet requeued by netfilter on a stacked device (VLAN) must still pass
# the netdev egress hook of the device below, exactly once
test_requeue_runs_lower_egress_hook() {
	local n
	topo
	ip -n cli link add link c0 name c0.10 type vlan id 10
	ip -n rtr link add link r-cli name r-cli.10 type vlan id 10
	ip -n cli link set c0.10 up
	ip -n rtr link set r-cli.10 up
	addr cli c0.10 10.77.10.2/24
	addr rtr r-cli.10 10.77.10.1/24
	attach cli c0.10 egress && cfg cli c0.10 $NF || return 1
	nx cli nft -f - <<-'NFT' || die "nft netdev egress chain failed to load"
	table netdev kr {
		chain out {
			type filter hook egress device "c0" priority 0;
			icmp type echo-request counter
		}
	}
	NFT
	listener cli 4200 accept || return 1
	nx cli ping -c 3 -i 0.3 -W 3 10.77.10.1 >/dev/null || die "ping over the VLAN failed"
	stop_listener $LPID
	(($(count_hook "$LLOG" 7) == 3)) || die "listener saw $(count_hook "$LLOG" 7) packets at hook 7, want 3"
	n=$(nx cli nft list chain netdev kr out | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	[[ $n == 3 ]] || die "egress chain of the lower device counted ${n:-nothing}, want 3"
}

# a BPF_F_NETFILTER request belongs to the tc run that made it: a program
# that asked and then returned TC_ACT_OK must not divert a later bare
# TC_ACT_REDIRECT (here the same packet, forwarded in the same softirq)
test_bare_redirect_not_diverted() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF_THEN_OK || return 1
	attach rtr r-srv egress && cfg rtr r-srv $BARE || return 1
	listener rtr 4200 accept || return 1
	nx cli ping -c 3 -i 0.3 -W 1 10.77.1.2 >/dev/null
	stop_listener $LPID
	(($(bpf_stat rtr r-cli redirect) > 0)) || die "ingress program did not get TC_ACT_REDIRECT from the helper"
	(($(bpf_stat rtr r-srv seen) > 0)) || die "egress program saw no packets"
	(($(count_hook "$LLOG" 7) == 0)) ||
		die "bare TC_ACT_REDIRECT went into netfilter ($(count_hook "$LLOG" 7) packets at hook 7)"
}

# cls_bpf: after a synchronous accept skb->tc_index is set as after TC_ACT_OK
test_tc_index_like_tc_act_ok() {
	local v
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF_CLASSID || return 1
	attach rtr r-srv egress && cfg rtr r-srv $TCINDEX || return 1
	nx cli ping -c 2 -W 2 10.77.1.2 >/dev/null || die "ping failed (no listener: bypass should pass it)"
	(($(bpf_stat rtr r-cli redirect) > 0)) || die "no redirect into netfilter"
	v=$(bpf_stat rtr r-srv tcindex)
	[[ $v == 42 ]] || die "tc_index after a synchronous accept is $v, want 42 (tc_classid 0x2a)"
}

# the hooks get what ip_rcv_core()/ipv6_rcv() give PRE_ROUTING: padding
# trimmed, malformed headers dropped before the hook
raw_frames_checked() {
	grep -q "len=32 family=ipv4 proto=17 src=10.77.0.101 " "$1" || die "padded IPv4 packet not queued as 32 bytes"
	grep -q "len=52 family=ipv6 proto=17 src=fd77::101 " "$1" || die "padded IPv6 packet not queued as 52 bytes"
	! grep -Eq "src=(10.77.0.10[234]|fd77::102) " "$1" || die "a malformed IP packet reached the hook"
}

test_ingress_checks_ip_headers() {
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	listener rtr 4200 accept || return 1
	nx cli /usr/bin/python3 "$HERE/rawframes.py" c0 $MAC_RCLI $MAC_C0 || die "sending raw frames failed"
	sleep 1
	stop_listener $LPID
	cat "$LLOG"
	raw_frames_checked "$LLOG"
}

test_egress_checks_ip_headers() {
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 accept || return 1
	nx cli /usr/bin/python3 "$HERE/rawframes.py" c0 $MAC_RCLI $MAC_C0 || die "sending raw frames failed"
	sleep 1
	stop_listener $LPID
	cat "$LLOG"
	raw_frames_checked "$LLOG"
}

# deleting an unrelated nft base chain (a firewall reload) must not drop a
# packet held for a verdict from the redirect hook
test_held_packet_survives_chain_delete() {
	local ping
	topo
	attach rtr r-cli ingress && cfg rtr r-cli $NF || return 1
	nx rtr nft -f - <<-'NFT' || die "nft table failed to load"
	table inet kr {
		chain kr_forward {
			type filter hook forward priority 0;
			counter
		}
	}
	NFT
	listener rtr 4200 hold --release /tmp/nfr-t/release || return 1
	nsenter --net=/run/netns/cli ping -c 1 -W 10 10.77.1.2 >/dev/null &
	ping=$!
	for _ in $(seq 50); do
		(($(count_hook "$LLOG" 6) > 0)) && break
		sleep 0.1
	done
	(($(count_hook "$LLOG" 6) == 1)) || die "echo request not held"
	nx rtr nft delete table inet kr || die "nft delete table failed"
	sleep 0.5
	touch /tmp/nfr-t/release
	wait $ping || die "the held echo request was dropped when an unrelated base chain went away"
	stop_listener $LPID
	grep -q "^released 1" "$LLOG" || die "listener did not release the packet"
}

# nfnetlink_hook (nft list hooks) dumps the redirect hooks by number
test_hook_dump_shows_redirect_hooks() {
	local fam h out
	grep -q '^nfr_redirect ' /proc/modules || die "module not loaded"
	for fam in ipv4 ipv6; do
		for h in 6 7; do
			out=$(/usr/bin/python3 "$HERE/nfhooks.py" $fam $h) || die "dump of $fam hook $h failed: $out"
			echo "$fam $out"
			grep -q "^hook=$h .*func=nfr_hook module=nfr_redirect" <<<"$out" ||
				die "$fam hook $h: nfr_hook missing in the dump"
		done
	done
	/usr/bin/python3 "$HERE/nfhooks.py" ipv4 8 && die "dump of hook 8 succeeded"
	nft list hooks >/dev/null || die "nft list hooks failed"
}

# a requeued packet reports SCM_TSTAMP_SCHED once, not per dev_queue_xmit
test_requeue_reports_sched_once() {
	local n
	topo
	attach cli c0 egress && cfg cli c0 $NF || return 1
	listener cli 4200 accept || return 1
	n=$(nx cli /usr/bin/python3 "$HERE/tstamp_sched.py" 10.77.1.2 4001) || die "timestamp probe failed"
	stop_listener $LPID
	(($(count_hook "$LLOG" 7) == 1)) || die "datagram did not pass hook 7 once"
	[[ $n == 1 ]] || die "SO_TIMESTAMPING reported SCM_TSTAMP_SCHED $n times, want 1"
}

# module parameters: every queue of both ranges within 0..65535, no wrap
test_module_param_ranges() {
	local bad
	module_unload || die "rmmod failed"
	for bad in "queue_ingress=4294967295 queue_count=2" "queue_egress=4294967295 queue_count=2" \
		"queue_ingress=65535 queue_count=2" "queue_egress=65536" "queue_count=0" \
		"queue_ingress=0 queue_count=4294967295"; do
		# shellcheck disable=SC2086 # word splitting intended
		if insmod "$MOD" $bad 2>/dev/null; then
			module_unload
			die "insmod accepted $bad"
		fi
	done
	dmesg | grep -q "queue_ingress=4294967295 with queue_count=2 uses queues up to 4294967296" ||
		die "no message naming the wrapped range"
	module_load queue_ingress=65534 queue_egress=65534 queue_count=2 || return 1
	grep -q '^queue_ingress 65534$' /proc/net/nfr_redirect || die "valid range 65534..65535 not in effect"
	module_unload || die "rmmod failed"
	module_load || return 1
}

test_kernel_log_clean() {
	local bad
	bad=$(dmesg | grep -E 'WARNING:|BUG:|KASAN|Oops|general protection|Call Trace|refcount_t:|unregister_netdevice: waiting')
	[[ -z $bad ]] || { echo "$bad"; die "kernel log has warnings"; }
}

tests=(
	test_sysctl_capability
	test_prog_test_run_probe
	test_no_module_behaves_like_stock
	test_flag_with_ifindex_refused
	test_ordinary_bpf_redirect
	test_module_load
	test_ingress_accept_delivered
	test_ingress_drop_not_delivered
	test_egress_requeue_delivered
	test_egress_drop_not_delivered
	test_gso_ingress_segmented
	test_gso_egress_segmented
	test_gso_whole_both_hooks
	test_ipv6_ingress
	test_ipv6_egress
	test_ipv6_drop
	test_taps_see_packet_once
	test_iptables_legacy_and_nft_ingress
	test_netns_isolation
	test_no_listener_bypass
	test_fail_closed_drops
	test_queue_fanout
	test_link_del_with_queued
	test_rmmod_with_queued
	test_ordinary_bpf_redirect_with_module
	test_requeue_runs_lower_egress_hook
	test_bare_redirect_not_diverted
	test_tc_index_like_tc_act_ok
	test_ingress_checks_ip_headers
	test_egress_checks_ip_headers
	test_held_packet_survives_chain_delete
	test_hook_dump_shows_redirect_hooks
	test_requeue_reports_sched_once
	test_module_param_ranges
	test_kernel_log_clean
)
if (($#)); then tests=("$@"); fi
for t in "${tests[@]}"; do
	run "$t"
done
cleanup
exit $((FAILED > 0))
