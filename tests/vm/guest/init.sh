#!/bin/bash
# PID 1 inside the test VM: mounts the pseudo and scratch file systems on
# top of the read-only 9p root, runs the configured script and powers off
# (qemu runs with -no-reboot, so a reboot ends it).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
# The repository as the host sees it; read before the scratch mounts below,
# which hide it when it lives under one of them (e.g. a CI clone in /tmp).
REPO=$(cd "$(dirname "$0")/../../.." && pwd)

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
for d in /tmp /run /var/tmp /var/log /var/lib /root /dev/shm; do
	mount -t tmpfs -o mode=1777 tmpfs "$d" 2>/dev/null
done
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 nfrshare /mnt
if [[ ! -d $REPO/tests/vm ]]; then
	mkdir -p "$REPO"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro nfrrepo "$REPO"
fi
mkdir -p /run/netns /run/nfr /var/lib/nfr
ip link set lo up
hostname nfr-vm 2>/dev/null

echo "nfr-vm: kernel $(uname -r), $(nproc) cpus"
# shellcheck disable=SC1091
source /mnt/run.conf
# A stock Debian kernel: its modules stay in the image extracted on the host
# (the read-only root may have no /lib/modules to mount over), so modprobe
# runs as "modprobe -d ROOT" for the kernel's request_module, iptables and
# scripts alike.
if [[ -n ${NFR_VM_KMODROOT:-} ]]; then
	mkdir -p /run/nfr-vm/bin
	printf '#!/bin/sh\nexec /usr/sbin/modprobe -d %s "$@"\n' "'$NFR_VM_KMODROOT'" >/run/nfr-vm/bin/modprobe
	chmod 755 /run/nfr-vm/bin/modprobe
	echo /run/nfr-vm/bin/modprobe >/proc/sys/kernel/modprobe
	export PATH=/run/nfr-vm/bin:$PATH
fi
bash "$NFR_VM_SCRIPT" "${NFR_VM_ARGS[@]}"
rc=$?
sync
echo "NFR-VM-EXIT $rc"
sleep 1 # let the serial port drain before the reset
echo 1 >/proc/sys/kernel/sysrq
echo b >/proc/sysrq-trigger
sleep 10
