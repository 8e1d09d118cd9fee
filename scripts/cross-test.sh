#!/usr/bin/env bash
# Cross-builds a test tier for one architecture against a Debian 12 sysroot and runs it under
# qemu-user.   usage: scripts/cross-test.sh ARCH [TIER...]   (ARCH: aarch64 armhf mipsel s390x;
# TIER: unit (default), unit-full, api)
# api: the whole API tier (real gRPC server over Unix and TCP sockets, SQLite files, nfrctl). It
# needs neither BPF nor NFQUEUE nor root (tests/api/test_agent.h), so it all runs under qemu-user.
# The build directory is build-cross-ARCH in this tree (incremental); objects are shared across
# checkouts through ccache in ${NFR_CROSS_CACHE:-/var/cache/nfr-cross}/ccache, so a fresh clone
# on a warm machine only links.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: cross-test.sh ARCH [unit] [api]}
shift
tiers=("${@:-unit}")
cache=${NFR_CROSS_CACHE:-/var/cache/nfr-cross}
sysroot=$(scripts/cross-sysroot.sh "$arch")
build=${NFR_CROSS_BUILD_DIR:-build-cross-$arch}
export CCACHE_DIR=$cache/ccache CCACHE_BASEDIR=$PWD CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export CCACHE_NOHASHDIR=1

if [[ ! -f "$build/CMakeCache.txt" ]] || ! grep -q "^NFR_SYSROOT:.*=$sysroot\$" "$build/CMakeCache.txt"; then
  rm -rf "$build"
  mkdir -p "$build"
  # The native build's -O2 without -g (GCC 12 -O3 warns falsely in vector::insert, and debug
  # info only slows the links).
  # Tests are listed when ctest runs (PRE_TEST), not by running them under qemu while building.
  cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="cmake/toolchains/$arch.cmake" \
    -DNFR_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DNFR_STATIC_GRPC=OFF -DNFR_MANPAGES=OFF \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "cross-test.sh: configuring the $arch build failed (log above)" >&2
    exit 1
  }
fi
# unit: the unit tests of the parts where word size and byte order matter (packet parser, flow
# keys and the BPF map layouts, policy matching and prefixes, pending table, held-packet ring,
# config), which need neither the datapath nor gRPC; a cold build fits the CI budget.
# unit-full: every unit test (the whole agent library); api: the API tier.
UNIT_TARGETS=(abi_layout_test packet_parser_test policy_test rule_index_test policy_sets_test
  pending_table_test config_test held_ring_test)
# qemu-user is 5-20x slower than the host; timing bounds in the tests scale with this.
export NFR_IT_TIME_SCALE=${NFR_IT_TIME_SCALE:-10}
qemu=$(sed -n 's/^NFR_QEMU_USER:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ ! -x "$qemu" ]]; then
  echo "cross-test.sh: no qemu-user for $arch; install qemu-user-static (scripts/install-deps.sh)" >&2
  exit 1
fi
for t in "${tiers[@]}"; do
  case "$t" in
    unit)
      nice cmake --build "$build" --target "${UNIT_TARGETS[@]}" -j "$(nproc)"
      for x in "${UNIT_TARGETS[@]}"; do
        echo "== $arch $x"
        "$qemu" -L "$sysroot" "$build/tests/unit/$x" --gtest_brief=1
      done
      ;;
    unit-full | api)
      dir=${t%-full}
      # The api tier runs nfrctl and re-executes test binaries; the host kernel cannot exec a
      # target binary by itself (no binfmt_misc here), so they go through qemu too. Every agent
      # start under qemu takes 1-2 s: the crash test kills 20 times instead of 100.
      export NFR_TEST_EXEC_PREFIX="$qemu -L $sysroot" NFR_CRASH_KILLS=${NFR_CRASH_KILLS:-20}
      nice cmake --build "$build" --target "tests/$dir/all" -j "$(nproc)"
      ctest --test-dir "$build" -L "^$dir\$" --output-on-failure --timeout 600 -j "$(nproc)"
      ;;
    *)
      echo "cross-test.sh: unknown tier '$t'; use unit, unit-full or api" >&2
      exit 2
      ;;
  esac
done
echo "cross-test.sh: $arch ${tiers[*]}: passed"
