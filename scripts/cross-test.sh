#!/usr/bin/env bash
# Cross-builds test tiers for one architecture against a Debian 12 sysroot and runs them under
# qemu-user.   usage: scripts/cross-test.sh ARCH [TIER...]   (ARCH: aarch64 armhf mipsel s390x;
# TIER: unit (default: every test in tests/unit), unit-subset (the eight word-size and
# byte-order tests only), api)
# api: the whole API tier (real gRPC server over Unix and TCP sockets, SQLite files, nfrctl). It
# needs neither BPF nor NFQUEUE nor root (tests/api/test_agent.h), so it all runs under qemu-user.
# All tiers share one build, build-cross-ARCH in this tree (incremental), made for compile speed
# (cmake/NfrCrossTestBuild.cmake: -O1, no debug info, precompiled headers). Objects are shared
# across checkouts through ccache in ${NFR_CROSS_CACHE:-/var/cache/nfr-cross}/ccache.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: cross-test.sh ARCH [unit|unit-subset|api]...}
shift
tiers=("${@:-unit}")
cache=${NFR_CROSS_CACHE:-/var/cache/nfr-cross}
sysroot=$(scripts/cross-sysroot.sh "$arch")
build=${NFR_CROSS_BUILD_DIR:-build-cross-$arch}
export CCACHE_DIR=$cache/ccache CCACHE_BASEDIR=$PWD CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export CCACHE_NOHASHDIR=1
# ccache caches compiles that use a precompiled header only with these.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime

cache_file=$build/CMakeCache.txt
if [[ ! -f "$cache_file" ]] || ! grep -q "^NFR_SYSROOT:.*=$sysroot\$" "$cache_file" ||
  ! grep -q "^NFR_CROSS_TEST_BUILD:BOOL=ON" "$cache_file"; then
  rm -rf "$build"
  mkdir -p "$build"
  # -O1 without -g: a cold build is what CI pays for each architecture; -O1 compiles a third
  # faster than -O2 and the tests still run at a useful speed under qemu (GCC 12 -O3 warns
  # falsely in vector::insert; debug info only slows the links).
  # Tests are listed when ctest runs (PRE_TEST), not by running them under qemu while building.
  cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="cmake/toolchains/$arch.cmake" \
    -DNFR_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" \
    -DNFR_CROSS_TEST_BUILD=ON -DNFR_STATIC_GRPC=OFF -DNFR_MANPAGES=OFF \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "cross-test.sh: configuring the $arch build failed (log above)" >&2
    exit 1
  }
fi
# unit-subset: the unit tests of the parts where word size and byte order matter (packet parser,
# flow keys and the BPF map layouts, policy matching and prefixes, pending table, held-packet
# ring, config), which need neither the datapath nor gRPC.
UNIT_TARGETS=(abi_layout_test packet_parser_test policy_test rule_index_test policy_sets_test
  pending_table_test config_test held_ring_test)
# qemu-user is 5-20x slower than the host; timing bounds in the tests scale with this.
export NFR_IT_TIME_SCALE=${NFR_IT_TIME_SCALE:-10}
# Parallel compile jobs (NFR_CROSS_JOBS, default: every core).
jobs=${NFR_CROSS_JOBS:-$(nproc)}
qemu=$(sed -n 's/^NFR_QEMU_USER:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ ! -x "$qemu" ]]; then
  echo "cross-test.sh: no qemu-user for $arch; install qemu-user-static (scripts/install-deps.sh)" >&2
  exit 1
fi
for t in "${tiers[@]}"; do
  case "$t" in
    unit-subset)
      nice cmake --build "$build" --target "${UNIT_TARGETS[@]}" -j "$jobs"
      for x in "${UNIT_TARGETS[@]}"; do
        echo "== $arch $x"
        "$qemu" -L "$sysroot" "$build/tests/unit/$x" --gtest_brief=1
      done
      ;;
    unit | api)
      # The api tier runs nfrctl and re-executes test binaries; the host kernel cannot exec a
      # target binary by itself (no binfmt_misc here), so they go through qemu too. Every agent
      # start under qemu takes 1-2 s: the crash test kills 20 times instead of 100.
      export NFR_TEST_EXEC_PREFIX="$qemu -L $sysroot" NFR_CRASH_KILLS=${NFR_CRASH_KILLS:-20}
      nice cmake --build "$build" --target "tests/$t/all" -j "$jobs"
      ctest --test-dir "$build/tests/$t" -L "^$t\$" --output-on-failure --timeout 600 -j "$jobs"
      ;;
    *)
      echo "cross-test.sh: unknown tier '$t'; use unit, unit-subset or api" >&2
      exit 2
      ;;
  esac
done
echo "cross-test.sh: $arch ${tiers[*]}: passed"
