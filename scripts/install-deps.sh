#!/usr/bin/env bash
# Installs every build, test and VM dependency from Debian 12 packages.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git clang llvm lld ccache
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libnetfilter-queue-dev libmnl-dev libnfnetlink-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libsqlite3-dev libssl-dev libre2-dev libc-ares-dev
  iproute2 iptables nftables iperf3 python3 python3-scapy socat openssl
  procps psmisc netcat-openbsd iputils-ping
  curl python3-prometheus-client python3-cryptography
)
VM_PKGS=(
  qemu-system-x86 linux-source-6.12 bc bison flex libssl-dev dwarves
  rsync cpio kmod xz-utils zstd jq util-linux
)

# Packaging (ctest label package, OpenWrt feed checks) and cross builds (label cross).
PKG_PKGS=(
  debhelper dpkg-dev fakeroot lintian help2man mmdebstrap rsync shellcheck busybox xz-utils
)
CROSS_PKGS=(
  crossbuild-essential-arm64 crossbuild-essential-armhf crossbuild-essential-mipsel
  crossbuild-essential-s390x qemu-user-static mmdebstrap ccache
)

want=("${PKGS[@]}" "${PKG_PKGS[@]}")
if [[ "${NFR_SKIP_VM:-0}" != 1 ]]; then
  want+=("${VM_PKGS[@]}")
fi
if [[ "${NFR_SKIP_CROSS:-0}" != 1 ]]; then
  want+=("${CROSS_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#want[@]} packages present"
