#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every ctest tier
# (unit, bpf, api, integration, vm). Run as root.
#   NFR_TEST_LABELS=regex  run only matching ctest labels (default: all)
# The fuzz tier needs clang, so it has its own small build (build-fuzz) and
# runs first; the main ctest run (gcc build) comes last.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: run as root (integration tests create namespaces and attach BPF; vm tests install kernel source)" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build.sh
BUILD_DIR=${NFR_BUILD_DIR:-build}
FUZZ_DIR=${NFR_FUZZ_BUILD_DIR:-build-fuzz}
if [[ -z "${NFR_TEST_LABELS:-}" || fuzz =~ ${NFR_TEST_LABELS} ]]; then
  if [[ ! -f "$FUZZ_DIR/CMakeCache.txt" ]]; then
    CC=clang CXX=clang++ cmake -S . -B "$FUZZ_DIR" -G Ninja -DNFR_BUILD_FUZZ=ON \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1 cmake --build "$FUZZ_DIR" \
    --target packet_parser_fuzz policy_fuzz config_fuzz api_request_fuzz -j "$(nproc)"
  ctest --test-dir "$FUZZ_DIR" -L fuzz --output-on-failure
fi
args=(--test-dir "$BUILD_DIR" --output-on-failure --timeout 3600)
[[ -n "${NFR_TEST_LABELS:-}" ]] && args+=(-L "$NFR_TEST_LABELS")
ctest "${args[@]}"
