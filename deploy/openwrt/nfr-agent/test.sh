#!/bin/sh
# OpenWrt package CI (tests run inside the target rootfs under qemu-user): $1 is the package
# name, $2 its version. Start nothing; prove the binaries run and the UCI translation works.
case "$1" in
nfr-agent)
	nfr-agent --help | grep -q 'Usage: nfr-agent' || exit 1
	nfr-agent --print_default_config | grep -q '"mode"' || exit 1
	/usr/libexec/nfr-uci2json >/tmp/nfr-ci.json || exit 1
	nfr-agent --config=/tmp/nfr-ci.json --check_config >/dev/null || exit 1
	;;
nfrctl)
	nfrctl --help | grep -q '^usage: nfrctl' || exit 1
	;;
esac
