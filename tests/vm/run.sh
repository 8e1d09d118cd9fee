#!/bin/bash
# Boots a test kernel under qemu (TCG) with the host root shared read-only
# over 9p and runs a guest test script inside.
#
#   tests/vm/run.sh                         run the kernel tests (guest/tests.sh)
#   tests/vm/run.sh --script PATH [ARGS..]  run PATH (a host path) in the VM
#   tests/vm/run.sh --kernel debian-6.1 --script PATH [ARGS..]
#
# --kernel NAME: patched-6.12 (default: Debian's linux-source-6.12 + our
# patches, built by build-kernel.sh, with the nfr_redirect module),
# debian-6.1 or debian-6.12 (Debian's own prebuilt linux-image packages,
# fetched by fetch-kernel.sh, booted with a small initramfs; the image's
# modules are found by a modprobe wrapper in the guest (guest/init.sh)).
# Other options: --tools-dir DIR (prebuilt nfr-qlistener + nfr_vm_test.bpf.o),
# --bzimage PATH --module PATH (skip the cached build), --timeout SECONDS,
# --mem SIZE, --keep (keep the run directory).
# The guest script sees NFR_VM_KERNEL (the name), NFR_VM_MODULE (patched
# only), NFR_VM_TOOLS, NFR_VM_BPF_OBJ, NFR_VM_REPO, NFR_VM_OUT (writable dir,
# copied back) in its environment. Lines "PASS x", "FAIL x", "SKIP x" and
# "VERIFIER ..." of the console are repeated on stdout.
# Exit status: the guest script's; 124 on timeout; the console log path is
# printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SCRIPT=$HERE/guest/tests.sh
TOOLS_DIR=
BZIMAGE=
MODULE=
INITRD=
KMODROOT=
KERNEL=patched-6.12
TIMEOUT=${NFR_VM_TIMEOUT:-1500}
MEM=1G
KEEP=0
ARGS=()

die() { echo "vm: error: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	--script) SCRIPT=$(realpath "$2"); shift 2; ARGS=("$@"); break ;;
	--tools-dir) TOOLS_DIR=$(realpath "$2"); shift 2 ;;
	--kernel) KERNEL=$2; shift 2 ;;
	--bzimage) BZIMAGE=$(realpath "$2"); shift 2 ;;
	--module) MODULE=$(realpath "$2"); shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

[[ -f $SCRIPT ]] || die "guest script $SCRIPT not found"
command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 not found; apt-get install qemu-system-x86"

case $KERNEL in
patched-6.12)
	if [[ -z $BZIMAGE || -z $MODULE ]]; then
		built=$("$HERE/build-kernel.sh")
		BZIMAGE=${BZIMAGE:-$(awk '$1 == "bzimage" {print $2}' <<<"$built")}
		MODULE=${MODULE:-$(awk '$1 == "module" {print $2}' <<<"$built")}
	fi
	;;
debian-*)
	fetched=$("$HERE/fetch-kernel.sh" "$KERNEL") || die "fetching kernel $KERNEL failed"
	BZIMAGE=$(awk '$1 == "bzimage" {print $2}' <<<"$fetched")
	INITRD=$(awk '$1 == "initrd" {print $2}' <<<"$fetched")
	KMODROOT=$(awk '$1 == "modules" {print $2}' <<<"$fetched")
	KMODROOT=${KMODROOT%/lib/modules}
	echo "vm: $KERNEL is $(awk '$1 == "package" {print $2, $3}' <<<"$fetched")"
	;;
*) die "unknown --kernel $KERNEL (patched-6.12, debian-6.1, debian-6.12)" ;;
esac

RUNS=${NFR_KERNEL_CACHE:-/var/cache/nfr-kernel}/runs
mkdir -p "$RUNS"
RUN=$(mktemp -d "$RUNS/run.XXXXXX")
mkdir -p "$RUN/share/tools" "$RUN/share/out"
[[ -z $MODULE ]] || cp "$MODULE" "$RUN/share/nfr_redirect.ko"

if [[ -z $TOOLS_DIR ]]; then
	TOOLS_DIR=$RUN/share/tools
	gcc -O2 -Wall -Wextra -Werror -o "$TOOLS_DIR/nfr-qlistener" \
		"$HERE/tools/nfr_qlistener.c" -lnetfilter_queue -lnfnetlink ||
		die "building nfr-qlistener failed (libnetfilter-queue-dev installed?)"
	clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu \
		-c "$HERE/bpf/nfr_vm_test.bpf.c" -o "$TOOLS_DIR/nfr_vm_test.bpf.o" ||
		die "building nfr_vm_test.bpf.o failed (clang, libbpf-dev installed?)"
else
	cp "$TOOLS_DIR/nfr-qlistener" "$TOOLS_DIR/nfr_vm_test.bpf.o" "$RUN/share/tools/"
fi

# Guest paths: the run directory is mounted at /mnt. The repository is
# visible at its host path (init.sh mounts it back over 9p if a scratch
# tmpfs hides it); other scripts under scratch dirs are copied to the share.
case $SCRIPT in
"$REPO"/*) GUEST_SCRIPT=$SCRIPT ;;
/tmp/* | /run/* | /var/tmp/* | /var/log/* | /var/lib/* | /root/*)
	cp "$SCRIPT" "$RUN/share/script"
	GUEST_SCRIPT=/mnt/script
	;;
*) GUEST_SCRIPT=$SCRIPT ;;
esac
{
	printf 'NFR_VM_SCRIPT=%q\n' "$GUEST_SCRIPT"
	if ((${#ARGS[@]})); then
		printf 'NFR_VM_ARGS=(%s)\n' "$(printf '%q ' "${ARGS[@]}")"
	else
		printf 'NFR_VM_ARGS=()\n'
	fi
	printf 'export NFR_VM_KERNEL=%q\n' "$KERNEL"
	[[ -z $MODULE ]] || printf 'export NFR_VM_MODULE=/mnt/nfr_redirect.ko\n'
	printf 'NFR_VM_KMODROOT=%q\n' "$KMODROOT"
	printf 'export NFR_VM_TOOLS=/mnt/tools\n'
	printf 'export NFR_VM_BPF_OBJ=/mnt/tools/nfr_vm_test.bpf.o\n'
	printf 'export NFR_VM_REPO=%q\n' "$REPO"
	printf 'export NFR_VM_OUT=/mnt/out\n'
} >"$RUN/share/run.conf"

# Patched kernel: 9p and virtio built in, the kernel mounts the root. Stock
# kernels: the initramfs loads the modules, mounts it and execs nfr.init.
if [[ -n $INITRD ]]; then
	BOOT=(-initrd "$INITRD" -append "console=ttyS0 panic=-1 quiet loglevel=4 nfr.init=$HERE/guest/init.sh")
else
	BOOT=(-append "console=ttyS0 panic=-1 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro init=$HERE/guest/init.sh")
fi
LOG=$RUN/console.log
echo "vm: kernel $KERNEL ($BZIMAGE)"
echo "vm: booting qemu (tcg), script $SCRIPT, timeout ${TIMEOUT}s"
start=$(date +%s)
# Debian's stock kernels occasionally die while patching their own text
# during early boot under multi-threaded TCG (an int3 oops before userspace).
# A guest that never reached its init script is booted again, at most twice;
# once the script has started nothing is retried.
for attempt in 1 2 3; do
	set +e
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu qemu64 -smp 2 -m "$MEM" \
		-display none -no-reboot -nodefaults \
		-chardev file,id=con,path="$LOG" -serial chardev:con \
		-kernel "$BZIMAGE" "${BOOT[@]}" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
		-fsdev local,id=share,path="$RUN/share",security_model=none \
		-device virtio-9p-pci,fsdev=share,mount_tag=nfrshare \
		-fsdev local,id=repo,path="$REPO",security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=repo,mount_tag=nfrrepo
	qrc=$?
	set -e
	if ((qrc == 124 || attempt == 3)) || grep -aq '^nfr-vm: kernel ' "$LOG"; then
		break
	fi
	mv "$LOG" "$RUN/console.boot-failure-$attempt.log"
	echo "vm: the guest died before its init script (attempt $attempt, console $RUN/console.boot-failure-$attempt.log):"
	grep -aE 'Oops|panic|BUG' "$RUN/console.boot-failure-$attempt.log" | head -n 3
	echo "vm: booting again"
done
elapsed=$(($(date +%s) - start))

pass=$(grep -c '^PASS ' "$LOG" || true)
fail=$(grep -c '^FAIL ' "$LOG" || true)
grep -aE '^(PASS|FAIL|SKIP|VERIFIER|AGENT-MODE|agent_suite:) ' "$LOG" || true
status=$(sed -n 's/^NFR-VM-EXIT \([0-9]*\).*/\1/p' "$LOG" | tail -1)
if ((qrc == 124)); then
	echo "vm: timeout after ${TIMEOUT}s"
	status=124
elif [[ -z $status ]]; then
	echo "vm: guest ended without an exit status (panic or crash?); tail of the console:"
	tail -n 30 "$LOG"
	status=1
fi
echo "$pass passed, $fail failed"
echo "vm: guest status $status, ${elapsed}s boot+run, console log $LOG"
((fail == 0)) || status=${status/#0/1}
if ((KEEP == 0 && status == 0)); then
	find "$RUNS" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
fi
exit "$status"
