#!/bin/bash
# Guest script: the integration suite (tests/integration/test_*.py) with the
# real nfr-agent inside the VM.
#
#   tests/vm/run.sh [--kernel K] --script tests/vm/guest/agent_suite.sh \
#       --mode native|compat (BUILD_DIR | --agent PATH --ctl PATH) [TEST..]
#
# --mode native (patched kernel, issue 4 item 5): every agent runs with mode
# native, egress included; the nfr_redirect module is inserted first.
# --mode compat (Debian's stock kernels, issue 14): the agent keeps mode auto
# and every start must log "mode=compat (<why>)"; compat_check.py checks the
# choice first and prints the start line as "AGENT-MODE ...".
# Both modes first print the tc programs' verifier statistics on this kernel
# ("VERIFIER kernel=R prog=P insns_processed=N ...", tools/nfr_verifier_stats.c
# loading the agent's nfr_tc.bpf.o; --verifier-stats TOOL --bpf-obj OBJ, or
# from BUILD_DIR).
# BUILD_DIR is a host build directory (agent/nfr-agent, ctl/nfrctl); TEST is
# a test file name (test_api.py), a unittest id (test_api.ApiTest) or a file
# with name patterns (test_api.py=restart,watch_and_accept: unittest -k, one
# lab for all of them); default all.  Prints "PASS name" / "FAIL name" / "SKIP name" per test case; exits
# 1 if any failed, 77 if native mode was asked for on a kernel without the
# pathway.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${NFR_VM_REPO:-$(cd "$HERE/../../.." && pwd)}
MODE=native
AGENT='' CTL='' VSTATS='' BPF_OBJ=''
die() { echo "agent_suite: error: $*"; exit 2; }

while (($#)); do
	case $1 in
	--mode) MODE=$2; shift 2 ;;
	--agent) AGENT=$2; shift 2 ;;
	--ctl) CTL=$2; shift 2 ;;
	--verifier-stats) VSTATS=$2; shift 2 ;;
	--bpf-obj) BPF_OBJ=$2; shift 2 ;;
	*)
		if [[ -z $AGENT && -d $1 ]]; then
			AGENT=$1/agent/nfr-agent CTL=$1/ctl/nfrctl
			VSTATS=$1/tests/vm/tools/nfr-verifier-stats BPF_OBJ=$1/bpf/nfr_tc.bpf.o
			shift
		else
			break
		fi
		;;
	esac
done
OUT=${NFR_VM_OUT:-/tmp}/$MODE
[[ -x $AGENT ]] || die "nfr-agent '$AGENT' not executable (pass BUILD_DIR or --agent)"
[[ -x $CTL ]] || echo "agent_suite: nfrctl '$CTL' missing: its tests skip"
mkdir -p "$OUT"
export NFR_IT_MODE=$MODE NFR_AGENT=$AGENT NFR_CTL=$CTL
export NFR_LAB_SH=$REPO/scripts/lab.sh PYTHONDONTWRITEBYTECODE=1
# qemu TCG emulates the CPU: response-time bounds scale by this factor (harness.TIME_SCALE).
export NFR_IT_TIME_SCALE=${NFR_IT_TIME_SCALE:-5}
# The host tier replays the ONCE race 50 times; 10 rounds under TCG (~3 s each) keep the VM tier short.
export NFR_ONCE_RACE_ROUNDS=${NFR_ONCE_RACE_ROUNDS:-10}

FAILED=0
if [[ -n $VSTATS ]]; then
	if "$VSTATS" "$BPF_OBJ" >"$OUT/verifier.txt" 2>&1; then
		grep -a '^VERIFIER ' "$OUT/verifier.txt"
		echo "PASS verifier_stats"
	else
		echo "FAIL verifier_stats: the tc programs do not load on $(uname -r):"
		tail -n 40 "$OUT/verifier.txt"
		FAILED=$((FAILED + 1))
	fi
fi

case $MODE in
native)
	[[ -e /proc/sys/net/core/tc_nf_redirect ]] || {
		echo "SKIP agent_suite: kernel lacks /proc/sys/net/core/tc_nf_redirect"
		exit 77
	}
	# the agent's default queue (4200); the harness reloads it for other numbers
	insmod "${NFR_VM_MODULE:-/mnt/nfr_redirect.ko}" queue_ingress=4200 \
		queue_egress=4200 queue_count=1 || die "insmod nfr_redirect failed"
	# modprobe cannot find it here (no /lib/modules on the read-only root): the
	# harness reinserts it with insmod when a test needs other queue numbers
	export NFR_IT_KMOD=${NFR_VM_MODULE:-/mnt/nfr_redirect.ko}
	;;
compat)
	[[ ! -e /proc/sys/net/core/tc_nf_redirect ]] ||
		echo "agent_suite: warning: the kernel has tc_nf_redirect; compat mode cannot be chosen"
	echo "agent_suite: kernel $(uname -r), $(iptables -V 2>&1), $(nft -v 2>&1)"
	log=$OUT/compat_check.log
	timeout -k 10 300 python3 -u "$HERE/compat_check.py" >"$log" 2>&1
	rc=$?
	grep -ao 'AGENT-MODE .*' "$log"
	if ((rc == 0)); then
		echo "PASS compat_check"
	else
		echo "FAIL compat_check: exit $rc; tail of $log:"
		tail -n 40 "$log"
		FAILED=$((FAILED + 1))
	fi
	;;
*) die "unknown --mode $MODE (native or compat)" ;;
esac

tests=("$@")
if ((${#tests[@]} == 0)); then
	for t in "$REPO"/tests/integration/test_*.py; do tests+=("$(basename "$t")"); done
fi

cd "$REPO/tests/integration" || die "no $REPO/tests/integration"
for t in "${tests[@]}"; do
	file=${t%%[.=]*}.py
	name=${t%%=*}
	name=${name%.py}
	log=$OUT/${name//\//_}.log
	start=$(date +%s)
	if [[ $t == *=* ]]; then
		# file.py=pat1,pat2: the tests matching any pattern, one process (one lab)
		IFS=, read -ra pats <<<"${t#*=}"
		kargs=()
		for p in "${pats[@]}"; do kargs+=(-k "$p"); done
		timeout -k 10 1800 python3 -u "$file" "${kargs[@]}" >"$log" 2>&1
	elif [[ $t == *.py ]]; then
		timeout -k 10 1800 python3 -u "$file" >"$log" 2>&1
	else
		# a unittest id inside the file: module.Class[.test]
		timeout -k 10 1800 python3 -u "$file" "${t#*.}" >"$log" 2>&1
	fi
	rc=$?
	echo "agent_suite: $name exit $rc in $(($(date +%s) - start))s"
	if [[ $t == *=* ]]; then
		ran=$(sed -n 's/^Ran \([0-9]*\) tests\?.*/\1/p' "$log" | tail -1)
		if ((${ran:-0} < ${#pats[@]})); then
			echo "FAIL $name: ${ran:-0} test(s) ran for ${#pats[@]} pattern(s) '${t#*=}' (renamed tests?)"
			FAILED=$((FAILED + 1))
			continue
		fi
	fi
	# unittest -v: "test_x (module.Class.test_x) ... ok|FAIL|ERROR|skipped '...'"
	sed -nE 's/^(test_[A-Za-z0-9_]+) \(([A-Za-z0-9_]+\.)?([A-Za-z0-9_]+)[^)]*\).*\.\.\. (ok|FAIL|ERROR|skipped.*)$/\4 \3.\1/p' \
		"$log" | sed -E 's/^ok /PASS /; s/^(FAIL|ERROR) /FAIL /; s/^skipped.* ([A-Za-z0-9_.]+)$/SKIP \1/'
	if ((rc != 0 && rc != 77)); then
		FAILED=$((FAILED + 1))
		echo "FAIL $name: exit $rc; tail of $log:"
		grep -E '^(FAIL|ERROR|AssertionError|Traceback)|Error:' "$log" | tail -n 20
		tail -n 40 "$log"
	fi
done

if dmesg | grep -E 'WARNING:|BUG:|KASAN|Oops|general protection' >"$OUT/dmesg-bad.txt"; then
	echo "FAIL kernel_log_clean: $(head -n 3 "$OUT/dmesg-bad.txt")"
	FAILED=$((FAILED + 1))
else
	echo "PASS kernel_log_clean"
fi
echo "agent_suite: $FAILED failing file(s)"
exit $((FAILED > 0))
