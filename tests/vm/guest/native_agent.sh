#!/bin/bash
# Guest script: the integration suite (tests/integration/test_*.py) with the
# real nfr-agent in native mode on the patched kernel (issue 4 item 5).
#
#   tests/vm/run.sh --script tests/vm/guest/native_agent.sh BUILD_DIR [TEST..]
#   tests/vm/run.sh --script tests/vm/guest/native_agent.sh \
#       --agent PATH --ctl PATH [TEST..]
#
# BUILD_DIR is a host build directory (agent/nfr-agent, ctl/nfrctl); TEST is
# a test file name (test_native.py) or unittest id (test_native.NativeTest),
# default all.  Prints "PASS name" / "FAIL name" / "SKIP name" per test case;
# exits 1 if any failed, 77 if the kernel lacks the pathway.
set -u
REPO=${NFR_VM_REPO:-$(cd "$(dirname "$0")/../../.." && pwd)}
OUT=${NFR_VM_OUT:-/tmp}/native
AGENT='' CTL=''
die() { echo "native_agent: error: $*"; exit 2; }

while (($#)); do
	case $1 in
	--agent) AGENT=$2; shift 2 ;;
	--ctl) CTL=$2; shift 2 ;;
	*)
		if [[ -z $AGENT && -d $1 ]]; then
			AGENT=$1/agent/nfr-agent CTL=$1/ctl/nfrctl
			shift
		else
			break
		fi
		;;
	esac
done
[[ -x $AGENT ]] || die "nfr-agent '$AGENT' not executable (pass BUILD_DIR or --agent)"
[[ -x $CTL ]] || echo "native_agent: nfrctl '$CTL' missing: its tests skip"
[[ -e /proc/sys/net/core/tc_nf_redirect ]] || {
	echo "SKIP native_agent: kernel lacks /proc/sys/net/core/tc_nf_redirect"
	exit 77
}

mkdir -p "$OUT"
# the agent's default queue (4200); the harness reloads it for other numbers
insmod "${NFR_VM_MODULE:-/mnt/nfr_redirect.ko}" queue_ingress=4200 \
	queue_egress=4200 queue_count=1 || die "insmod nfr_redirect failed"

# modprobe cannot find it here (no /lib/modules on the read-only root): the
# harness reinserts it with insmod when a test needs other queue numbers
export NFR_IT_KMOD=${NFR_VM_MODULE:-/mnt/nfr_redirect.ko}
export NFR_IT_MODE=native NFR_AGENT=$AGENT NFR_CTL=$CTL
export NFR_LAB_SH=$REPO/scripts/lab.sh PYTHONDONTWRITEBYTECODE=1

tests=("$@")
if ((${#tests[@]} == 0)); then
	for t in "$REPO"/tests/integration/test_*.py; do tests+=("$(basename "$t")"); done
fi

FAILED=0
cd "$REPO/tests/integration" || die "no $REPO/tests/integration"
for t in "${tests[@]}"; do
	file=${t%%.*}.py
	name=${t%.py}
	log=$OUT/${name//\//_}.log
	start=$(date +%s)
	if [[ $t == *.py ]]; then
		timeout -k 10 1800 python3 -u "$file" >"$log" 2>&1
	else
		# a unittest id inside the file: module.Class[.test]
		timeout -k 10 1800 python3 -u "$file" "${t#*.}" >"$log" 2>&1
	fi
	rc=$?
	echo "native_agent: $name exit $rc in $(($(date +%s) - start))s"
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
echo "native_agent: $FAILED failing file(s)"
exit $((FAILED > 0))
