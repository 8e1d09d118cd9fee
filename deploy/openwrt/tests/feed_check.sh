#!/usr/bin/env bash
# Checks the OpenWrt feed without an OpenWrt tree: every package Makefile is evaluated by GNU
# make against stand-ins for OpenWrt's include files (tests/stub/) that fail on a missing
# PKG_*, TITLE, description, install recipe or kmod AUTOLOAD/nfnetlink-queue dependency; the
# install recipes then run into a scratch dir, so every file they name must exist; init,
# hotplug and scripts pass shellcheck (ash: `local` allowed); install-patch.sh is run on a
# minimal fake OpenWrt tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
feed=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

for mk in "$feed"/*/Makefile; do
  pkg=$(basename "$(dirname "$mk")")
  [[ "$pkg" == tests ]] && continue
  out="$tmp/$pkg"
  mkdir -p "$out/build" "$out/linux/net/core"
  # Fake build outputs the install recipes copy.
  mkdir -p "$out/build/nfr-agent/ipkg-install/usr/sbin" "$out/build/nfr-agent/ipkg-install/usr/bin"
  touch "$out/build/nfr-agent/ipkg-install/usr/sbin/nfr-agent" "$out/build/nfr-agent/ipkg-install/usr/bin/nfrctl"
  cat >"$out/check.mk" <<'MK'
include $(PKG_MAKEFILE)
all: $(addprefix install-,$(STUB_PACKAGES))
install-%: ; $(STUB_INSTALL_$*)
MK
  if (cd "$(dirname "$mk")" && make -s --no-print-directory -f "$out/check.mk" PKG_MAKEFILE="$mk" \
    TOPDIR="$here/stub" INCLUDE_DIR="$here/stub" STUB_OUT="$out" all) >"$out/log" 2>&1; then
    sed 's/^/     /' "$out/log" | grep -E 'PACKAGE|KMOD' || true
    echo "ok   $pkg/Makefile"
  else
    fail "$pkg/Makefile: $(cat "$out/log")"
  fi
done
# What the packages install.
for f in ipkg-nfr-agent/etc/init.d/nfr-agent ipkg-nfr-agent/usr/libexec/nfr-uci2json \
  ipkg-nfr-agent/etc/config/nfr ipkg-nfr-agent/etc/hotplug.d/iface/40-nfr \
  ipkg-nfr-agent/usr/sbin/nfr-agent ipkg-nfrctl/usr/bin/nfrctl; do
  [[ -e "$tmp/nfr-agent/$f" ]] || fail "nfr-agent/Makefile does not install ${f#*/}"
done
[[ -f "$tmp/kmod-nfr-redirect/build/nfr-redirect/nfr_redirect.c" ]] ||
  fail "kmod-nfr-redirect/Makefile does not copy kmod/ into its build dir"

if shellcheck -s sh -e SC2034,SC3043 "$feed/nfr-agent/files/nfr.init" "$feed/nfr-agent/files/nfr.hotplug" \
  "$feed/nfr-agent/files/nfr-uci2json" "$feed/nfr-agent/test.sh" "$feed/kernel/install-patch.sh"; then
  echo "ok   shellcheck (init, hotplug, uci2json, test.sh, install-patch.sh)"
else
  fail "shellcheck"
fi

# install-patch.sh on a fake tree with a 6.6 generic target.
ow="$tmp/openwrt"
mkdir -p "$ow/target/linux/generic/hack-6.6"
echo "CONFIG_NET_XGRESS=y" >"$ow/target/linux/generic/config-6.6"
if "$feed/kernel/install-patch.sh" "$ow" >/dev/null &&
  cmp -s "$ow/target/linux/generic/hack-6.6/670-netfilter-tc-BPF-redirect-into-netfilter-hooks.patch" \
    "$feed/../../kernel/patches/6.6/670-netfilter-tc-BPF-redirect-into-netfilter-hooks.patch" &&
  grep -qx '# CONFIG_NETFILTER_TC_REDIRECT is not set' "$ow/target/linux/generic/config-6.6"; then
  echo "ok   install-patch.sh places the 6.6 patch and declares its symbol"
else
  fail "install-patch.sh on a fake 6.6 tree"
fi
if "$feed/kernel/install-patch.sh" "$tmp/none" 2>/dev/null; then fail "install-patch.sh accepted a non-OpenWrt dir"; fi

if ((fails)); then
  echo "feed_check: $fails failure(s)"
  exit 1
fi
echo "feed_check: all passed"
