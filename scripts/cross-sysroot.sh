#!/usr/bin/env bash
# Prints the path of a Debian 12 sysroot for a cross build, making it first if needed.
#   usage: scripts/cross-sysroot.sh ARCH      (aarch64 | armhf | mipsel | s390x)
# The sysroot holds the target architecture's -dev packages the agent and its tests link
# against, extracted by mmdebstrap (no maintainer scripts, so no emulation needed). It is
# cached under ${NFR_CROSS_CACHE:-/var/cache/nfr-cross} keyed by the package list and this
# script, so only the first run on a machine downloads (~15 s, ~230 MB per architecture).
set -euo pipefail
arch=${1:?usage: cross-sysroot.sh aarch64|armhf|mipsel|s390x}
case "$arch" in
  aarch64) deb=arm64 ;;
  armhf) deb=armhf ;;
  mipsel) deb=mipsel ;;
  s390x) deb=s390x ;;
  *)
    echo "cross-sysroot.sh: unknown architecture '$arch'; use aarch64, armhf, mipsel or s390x" >&2
    exit 2
    ;;
esac
PKGS=libc6-dev,libstdc++-12-dev,libgrpc++-dev,libprotobuf-dev,libabsl-dev,libbpf-dev,libelf-dev
PKGS+=,libnetfilter-queue-dev,libmnl-dev,libsqlite3-dev,libssl-dev,libgtest-dev,libgmock-dev
PKGS+=,libre2-dev,libc-ares-dev,zlib1g-dev
# The host's libbpf cannot read a big-endian BPF object; the target's bpftool (run under
# qemu-user) generates the skeleton for those.
[[ $deb == s390x ]] && PKGS+=,bpftool
MIRROR=${NFR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${NFR_CROSS_CACHE:-/var/cache/nfr-cross}
# Bump LAYOUT when the steps below change what a sysroot holds.
LAYOUT=1
key=$(echo "$deb $PKGS $MIRROR $LAYOUT" | sha256sum | cut -c1-12)
root="$cache/sysroot-$arch-$key"
if [[ ! -f "$root/.complete" ]]; then
  mkdir -p "$cache"
  rm -rf "$root.tmp"
  mmdebstrap --quiet --variant=extract --mode=root --arch="$deb" --include="$PKGS" \
    --skip=check/empty bookworm "$root.tmp" "$MIRROR" >&2
  # gRPC's CMake package insists its code generators exist under the sysroot; point them at the
  # host's (protobuf-compiler-grpc from the same Debian release, so the same version).
  for p in cpp php python ruby; do
    ln -sf "/usr/bin/grpc_${p}_plugin" "$root.tmp/usr/bin/grpc_${p}_plugin"
  done
  touch "$root.tmp/.complete"
  rm -rf "$root"
  mv "$root.tmp" "$root"
fi
echo "$root"
