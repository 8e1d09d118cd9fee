#!/usr/bin/env bash
# Builds nfr-agent and nfrctl with the router profile (cmake/NfrRouterProfile.cmake) for each
# architecture and prints their sizes, stripped and xz-compressed, as a Markdown table.
#   usage: scripts/size-table.sh [ARCH...]   (x86_64 aarch64 armhf mipsel s390x; default all)
# Builds go to build-router-ARCH (objects shared through ccache, as in scripts/cross-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
archs=("${@:-x86_64 aarch64 armhf mipsel s390x}")
read -r -a archs <<<"${archs[*]}"
cache=${NFR_CROSS_CACHE:-/var/cache/nfr-cross}
export CCACHE_DIR=$cache/ccache CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
rows=()
for arch in "${archs[@]}"; do
  build=build-router-$arch
  args=(-DNFR_ROUTER_PROFILE=ON -DNFR_BUILD_TESTS=OFF -DNFR_MANPAGES=OFF
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  strip="strip"
  if [[ "$arch" != x86_64 ]]; then
    sysroot=$(scripts/cross-sysroot.sh "$arch")
    args+=(-DCMAKE_TOOLCHAIN_FILE="cmake/toolchains/$arch.cmake" -DNFR_SYSROOT="$sysroot")
    strip=$(sed -n 's/^set(NFR_CROSS_TRIPLET \(.*\))/\1/p' "cmake/toolchains/$arch.cmake")-strip
  fi
  mkdir -p "$build"
  [[ -f "$build/CMakeCache.txt" ]] || cmake -S . -B "$build" -G Ninja "${args[@]}" >"$build/configure.log"
  nice cmake --build "$build" --target nfr-agent nfrctl -j "$(nproc)" >"$build/build.log" || {
    tail -30 "$build/build.log" >&2
    echo "size-table.sh: the $arch router build failed (log: $build/build.log)" >&2
    exit 1
  }
  for prog in agent/nfr-agent ctl/nfrctl; do
    "$strip" -o "$build/${prog##*/}.stripped" "$build/$prog"
    xz -9e -T1 -k -c "$build/${prog##*/}.stripped" >"$build/${prog##*/}.xz"
    s=$(stat -c %s "$build/${prog##*/}.stripped")
    x=$(stat -c %s "$build/${prog##*/}.xz")
    needed=$(readelf -d "$build/$prog" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')
    rows+=("| $arch | ${prog##*/} | $(numfmt --to=iec-i --suffix=B --format=%.2f "$s") | $(numfmt --to=iec-i --suffix=B --format=%.2f "$x") | $needed |")
  done
done
echo "| arch | binary | stripped | xz -9e | shared libraries left |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
