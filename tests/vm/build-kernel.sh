#!/bin/bash
# Builds the patched Debian linux-source-6.12 kernel (bzImage) and the
# nfr_redirect module, cached under $NFR_KERNEL_CACHE (default
# /var/cache/nfr-kernel) by a hash of source version + patches + config
# fragment (+ kmod sources for the module), so only the first run pays.
# Prints two lines on stdout: "bzimage PATH" and "module PATH".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${NFR_KERNEL_CACHE:-/var/cache/nfr-kernel}
JOBS=${NFR_KERNEL_JOBS:-$(nproc)}
PKG=linux-source-6.12
TARBALL=/usr/src/$PKG.tar.xz
PATCHES=("$REPO"/kernel/patches/6.12/*.patch)
FRAGMENT=$REPO/kernel/config/nfr.config
KMOD_FILES=("$REPO"/kmod/Kbuild "$REPO"/kmod/Makefile "$REPO"/kmod/*.c)

log() { echo "build-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ ! -f $TARBALL ]]; then
	log "$TARBALL missing; installing $PKG with apt-get"
	apt-get install -y "$PKG" >&2 ||
		die "cannot install $PKG; run 'apt-get install $PKG' (bookworm-backports or trixie)"
fi
[[ -f ${PATCHES[0]} ]] || die "no patches in $REPO/kernel/patches/6.12"
for tool in make gcc flex bison bc perl; do
	command -v "$tool" >/dev/null ||
		die "$tool not found; install build-essential flex bison bc (scripts/install-deps.sh)"
done

src_version=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || stat -c %s-%Y "$TARBALL")
kkey=$( {
	echo "$PKG $src_version"
	cat "${PATCHES[@]}" "$FRAGMENT" "$0"
} | sha256sum | cut -c1-16)
mkey=$( { echo "$kkey"; cat "${KMOD_FILES[@]}"; } | sha256sum | cut -c1-16)
KDIR=$CACHE/$kkey
mkdir -p "$CACHE"

exec 9>"$CACHE/.lock"
flock 9

if [[ ! -f $KDIR/bzImage ]]; then
	start=$(date +%s)
	log "cold build of $PKG $src_version + ${#PATCHES[@]} patch(es) -> $KDIR (takes a while; log $KDIR/build.log)"
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	tar -C "$KDIR" -xf "$TARBALL"
	mv "$KDIR/$PKG" "$KDIR/tree"
	for p in "${PATCHES[@]}"; do
		patch -d "$KDIR/tree" -p1 --quiet --forward <"$p" ||
			die "patch $p does not apply to $PKG $src_version"
	done
	(
		cd "$KDIR/tree"
		make allnoconfig
		scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
		make olddefconfig
	) >"$KDIR/build.log" 2>&1 || die "configuring failed, see $KDIR/build.log"
	missing=0
	while IFS= read -r line; do
		[[ $line =~ ^CONFIG_[A-Z0-9_]+=.*$ ]] || continue
		grep -qx "$line" "$KDIR/tree/.config" || { log "config: $line did not stick"; missing=1; }
	done <"$FRAGMENT"
	((missing == 0)) || die "config fragment options missing (dependencies?), see $KDIR/tree/.config"
	make -C "$KDIR/tree" -j"$JOBS" bzImage modules >>"$KDIR/build.log" 2>&1 ||
		die "kernel build failed, see $KDIR/build.log"
	cp "$KDIR/tree/arch/x86/boot/bzImage" "$KDIR/bzImage"
	log "kernel built in $(($(date +%s) - start))s"
	echo "$(($(date +%s) - start))" >"$KDIR/build-seconds"
else
	log "cached kernel $KDIR/bzImage"
fi

MDIR=$KDIR/mod-$mkey
if [[ ! -f $MDIR/nfr_redirect.ko ]]; then
	rm -rf "$MDIR"
	mkdir -p "$MDIR"
	cp "${KMOD_FILES[@]}" "$MDIR/"
	make -C "$KDIR/tree" M="$MDIR" modules >"$MDIR/build.log" 2>&1 ||
		die "module build failed, see $MDIR/build.log"
	log "module built: $MDIR/nfr_redirect.ko"
fi

echo "bzimage $KDIR/bzImage"
echo "module $MDIR/nfr_redirect.ko"
