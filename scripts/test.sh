#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every ctest tier
# (unit, bpf, api, integration, vm). Run as root.
#   NFR_TEST_LABELS=regex  run only matching ctest labels (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: run as root (integration tests create namespaces and attach BPF; vm tests install kernel source)" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build.sh
BUILD_DIR=${NFR_BUILD_DIR:-build}
args=(--test-dir "$BUILD_DIR" --output-on-failure --timeout 3600)
[[ -n "${NFR_TEST_LABELS:-}" ]] && args+=(-L "$NFR_TEST_LABELS")
ctest "${args[@]}"
