#!/bin/sh
# Puts the tc->netfilter redirect patch where an OpenWrt tree's kernel build applies it
# (target/linux/generic/hack-<ver>/) and declares its config symbol in the generic config, so
# kmod-nfr-redirect (KCONFIG: CONFIG_NETFILTER_TC_REDIRECT=y) can turn it on.
#   usage: install-patch.sh OPENWRT-DIR
# A feed cannot patch the kernel by itself; run this once per OpenWrt checkout, then
# `make target/linux/clean` and rebuild the image (the kernel ABI changes: see deploy/README.md).
set -eu
top=${1:?usage: install-patch.sh OPENWRT-DIR}
here=$(cd "$(dirname "$0")" && pwd)
generic=$top/target/linux/generic
[ -d "$generic" ] || {
	echo "install-patch.sh: $top is not an OpenWrt tree (no target/linux/generic)" >&2
	exit 1
}
done_any=0
for dir in "$here"/hack-*; do
	ver=${dir##*/hack-}
	[ -d "$generic/hack-$ver" ] || continue
	for p in "$dir"/*.patch; do
		cp -L "$p" "$generic/hack-$ver/"
		echo "install-patch.sh: $generic/hack-$ver/${p##*/}"
	done
	cfg=$generic/config-$ver
	if [ -f "$cfg" ] && ! grep -q 'CONFIG_NETFILTER_TC_REDIRECT' "$cfg"; then
		echo '# CONFIG_NETFILTER_TC_REDIRECT is not set' >>"$cfg"
		echo "install-patch.sh: declared CONFIG_NETFILTER_TC_REDIRECT in $cfg"
	fi
	done_any=1
done
[ "$done_any" -eq 1 ] || {
	echo "install-patch.sh: $top has none of the kernels this feed has a patch for ($(cd "$here" && echo hack-*)); see kernel/README.md" >&2
	exit 1
}
