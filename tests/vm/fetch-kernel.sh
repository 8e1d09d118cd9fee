#!/bin/bash
# Fetches one of Debian's own prebuilt kernels for the VM tier and prepares
# it for booting over 9p, cached under $NFR_KERNEL_CACHE (default
# /var/cache/nfr-kernel)/debian/<package>_<version>/.
#
#   tests/vm/fetch-kernel.sh debian-6.1    bookworm's linux-image-amd64 (6.1)
#   tests/vm/fetch-kernel.sh debian-6.12   linux-image-6.12-amd64 (bookworm-security)
#
# The image package is the one the meta package depends on in apt's current
# candidate (NFR_KERNEL_PKG=linux-image-... overrides). It is downloaded with
# `apt-get download`, extracted, depmod'ed, and given a small initramfs
# (initramfs/nfr_initramfs_init.c + the virtio/9p modules and their
# dependencies) that mounts the host root and execs `nfr.init=`.
# Prints on stdout: "bzimage PATH", "initrd PATH", "modules DIR" (the
# image's depmod'ed lib/modules; the guest's modprobe wrapper uses it),
# "release UNAME_R" and "package NAME VERSION".
# Without network the newest cached image of the same name is used.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${NFR_KERNEL_CACHE:-/var/cache/nfr-kernel}
NAME=${1:-}
# Modules the initramfs loads (with their dependencies) to reach the 9p root.
BOOT_MODULES=(virtio_pci 9pnet_virtio 9p)

log() { echo "fetch-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

case $NAME in
debian-6.1) META=linux-image-amd64 SERIES=6.1 ;;
debian-6.12) META=linux-image-6.12-amd64 SERIES=6.12 ;;
*) die "unknown kernel '$NAME' (debian-6.1 or debian-6.12)" ;;
esac
for tool in apt-cache apt-get dpkg-deb depmod modprobe cpio gzip xz gcc; do
	command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh)"
done

mkdir -p "$CACHE/debian"
exec 9>"$CACHE/debian/.lock"
flock 9

# The newest prepared image of this series, for offline runs.
cached_fallback() {
	local d
	d=$(find "$CACHE/debian" -maxdepth 2 -name ready -path "*/linux-image-$SERIES*" -printf '%h\n' 2>/dev/null |
		sort -V | tail -1)
	[[ -n $d ]] || return 1
	log "using cached $d"
	cat "$d/ready"
	exit 0
}

pkg=${NFR_KERNEL_PKG:-}
if [[ -z $pkg ]]; then
	pkg=$(apt-cache depends "$META" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}') || true
	[[ -n $pkg ]] || {
		cached_fallback ||
			die "apt knows no $META; run apt-get update (bookworm and bookworm-security sources)"
	}
fi
ver=$(apt-cache show "$pkg" 2>/dev/null | awk '$1 == "Version:" {print $2; exit}') || true
[[ -n $ver ]] || { cached_fallback || die "apt knows no $pkg; run apt-get update"; }
DIR=$CACHE/debian/${pkg}_$ver
if [[ -f $DIR/ready ]]; then
	log "cached $pkg $ver in $DIR"
	cat "$DIR/ready"
	exit 0
fi

start=$(date +%s)
log "fetching $pkg $ver (for $NAME) -> $DIR"
rm -rf "$DIR"
mkdir -p "$DIR/dl"
chmod 0777 "$DIR/dl" # apt-get download drops privileges to _apt
(cd "$DIR/dl" && apt-get download -q "$pkg=$ver" >&2) || {
	rm -rf "$DIR"
	cached_fallback || die "apt-get download $pkg=$ver failed (network? apt-get update?)"
}
dpkg-deb -x "$DIR"/dl/*.deb "$DIR/root"
rm -rf "$DIR/dl"
MODROOT=$DIR/root
[[ -d $MODROOT/lib/modules ]] || MODROOT=$DIR/root/usr # usr-merged package
release=$(ls "$MODROOT/lib/modules")
[[ -n $release && $(wc -w <<<"$release") == 1 ]] || die "expected one release in $MODROOT/lib/modules, got '$release'"
vmlinuz=$DIR/root/boot/vmlinuz-$release
[[ -f $vmlinuz ]] || die "$pkg has no boot/vmlinuz-$release"
depmod -b "$MODROOT" "$release"

# The initramfs: static init + boot modules in load order, uncompressed.
IR=$DIR/initramfs
mkdir -p "$IR/modules"
gcc -O2 -Wall -Wextra -Werror -static -o "$IR/init" "$HERE/initramfs/nfr_initramfs_init.c" ||
	die "building the initramfs init failed (static glibc: libc6-dev)"
: >"$IR/modules/load"
for m in "${BOOT_MODULES[@]}"; do
	modprobe -d "$MODROOT" -S "$release" --show-depends "$m" |
		awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while IFS= read -r ko; do
	base=$(basename "$ko")
	base=${base%.xz}
	base=${base%.zst}
	case $ko in
	*.xz) xz -dc "$ko" >"$IR/modules/$base" ;;
	*.zst) zstd -qdc "$ko" >"$IR/modules/$base" ;;
	*) cp "$ko" "$IR/modules/$base" ;;
	esac
	echo "$base" >>"$IR/modules/load"
done
log "initramfs modules: $(tr '\n' ' ' <"$IR/modules/load")"
(cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$DIR/initrd.img"

{
	echo "bzimage $vmlinuz"
	echo "initrd $DIR/initrd.img"
	echo "modules $MODROOT/lib/modules"
	echo "release $release"
	echo "package $pkg $ver"
} >"$DIR/ready.tmp"
mv "$DIR/ready.tmp" "$DIR/ready"
log "prepared $pkg $ver ($release) in $(($(date +%s) - start))s"
cat "$DIR/ready"
