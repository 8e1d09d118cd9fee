#!/usr/bin/env bash
# Builds the .deb (scripts/package-deb.sh), installs it into a fresh Debian 12 root made by
# mmdebstrap and runs the installed programs there. Needs root (mmdebstrap --mode=root, chroot).
# The root, with the package's dependencies preinstalled, is cached as a tarball under
# ${NFR_PKG_CACHE:-/var/cache/nfr-pkg} keyed by that package list; each run unpacks a fresh copy.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${NFR_PKG_CACHE:-/var/cache/nfr-pkg}
MIRROR=${NFR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# NFR_PKG_REUSE=1: test the .deb the last package-deb.sh run left (while working on this script).
if [[ "${NFR_PKG_REUSE:-0}" == 1 ]]; then
  out=$cache/out
else
  out=$(scripts/package-deb.sh)
fi
deb=$(ls "$out"/nfr-agent_*.deb)
echo "package-test: built $(basename "$deb"); lintian clean"

# First alternative of every dependency, without versions, plus systemd (the unit's init and the
# sysusers/tmpfiles tools the postinst calls): what the root must already hold.
deps=$( (dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' && echo systemd) |
  grep . | sort -u | paste -sd,)
key=$(echo "bookworm minbase $deps $MIRROR" | sha256sum | cut -c1-12)
tarball="$cache/root-$key.tar"
if [[ ! -f "$tarball" ]]; then
  echo "package-test: making the Debian 12 root ($deps)"
  # mmdebstrap picks the output format from the name: keep .tar at the end.
  mmdebstrap --quiet --variant=minbase --mode=root --include="$deps" bookworm "${tarball%.tar}.tmp.tar" "$MIRROR"
  mv "${tarball%.tar}.tmp.tar" "$tarball"
fi
root=$(mktemp -d /tmp/nfr-pkg-root.XXXXXX)
trap 'umount "$root/proc" 2>/dev/null; rm -rf "$root"' EXIT
tar -C "$root" -xf "$tarball"
# systemd-tmpfiles (postinst) needs /proc, as on any running system.
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
fail() {
  echo "package-test: FAIL: $*" >&2
  exit 1
}

in_root dpkg -i "/tmp/$(basename "$deb")" || fail "dpkg -i of $(basename "$deb") failed"
in_root nfr-agent --config=/etc/nfr/agent.json --check_config >"$root/tmp/effective.json" ||
  fail "installed nfr-agent --check_config refused the packaged /etc/nfr/agent.json"
grep -q '"db_path": "/var/lib/nfr/state.db"' "$root/tmp/effective.json" ||
  fail "effective configuration lacks the packaged db_path"
# Into a file, not a pipe: grep -q exits at the first match and, with pipefail, a SIGPIPE in a
# still-writing nfrctl would fail the check.
in_root nfrctl --help >"$root/tmp/nfrctl-help.txt" || fail "installed nfrctl --help failed"
grep -q '^usage: nfrctl' "$root/tmp/nfrctl-help.txt" || fail "installed nfrctl --help printed no usage"
in_root getent group nfr >/dev/null || fail "postinst did not create group nfr (sysusers)"
[[ -d "$root/var/lib/nfr" ]] || fail "postinst did not create /var/lib/nfr (tmpfiles)"
mode=$(in_root stat -c '%a %U:%G' /var/lib/nfr)
[[ "$mode" == "750 root:nfr" ]] || fail "/var/lib/nfr is $mode, want 750 root:nfr"
grep -qx /etc/nfr/agent.json "$root/var/lib/dpkg/info/nfr-agent.conffiles" ||
  fail "/etc/nfr/agent.json is not a conffile"
for f in /usr/share/man/man8/nfr-agent.8.gz /usr/share/man/man1/nfrctl.1.gz \
  /usr/share/bash-completion/completions/nfrctl /lib/systemd/system/nfr-agent.service; do
  [[ -e "$root$f" ]] || fail "$f is not installed"
done
zcat "$root/usr/share/man/man8/nfr-agent.8.gz" >"$root/tmp/nfr-agent.8" || fail "nfr-agent(8) is not gzip"
grep -q -- 'check_config' "$root/tmp/nfr-agent.8" ||
  fail "nfr-agent(8) does not describe --check_config"
[[ -L "$root/etc/systemd/system/multi-user.target.wants/nfr-agent.service" ]] ||
  fail "nfr-agent.service is not enabled"
in_root dpkg -r nfr-agent >/dev/null || fail "dpkg -r nfr-agent failed"
[[ -f "$root/etc/nfr/agent.json" ]] || fail "dpkg -r removed the conffile (only purge may)"
in_root dpkg -P nfr-agent >/dev/null || fail "dpkg -P nfr-agent failed"
[[ ! -e "$root/etc/nfr/agent.json" ]] || fail "dpkg -P left /etc/nfr/agent.json"
echo "package-test: installed, checked config, ran nfrctl --help, removed and purged: ok"
