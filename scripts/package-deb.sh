#!/usr/bin/env bash
# Builds the Debian packages (debian/) from this tree and prints the directory holding them.
# The tree is staged at a fixed path under ${NFR_PKG_CACHE:-/var/cache/nfr-pkg} so ccache hits
# survive across checkouts; the result is lintian-checked (errors and warnings fail).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${NFR_PKG_CACHE:-/var/cache/nfr-pkg}
version=$(dpkg-parsechangelog -S Version)
stage="$cache/src/nfr-agent-$version"
out="$cache/out"
mkdir -p "$stage" "$out"
rsync -a --delete --exclude='/build*' --exclude='/.git' --exclude='/run' \
  --exclude='/obj-*' --exclude='/debian/.debhelper' --exclude='/debian/tmp' ./ "$stage/"
export CCACHE_DIR=${CCACHE_DIR:-$cache/ccache}
export NFR_CMAKE_ARGS="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
(
  cd "$stage"
  DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" dpkg-buildpackage -b -us -uc >"$cache/build.log" 2>&1 || {
    tail -40 "$cache/build.log" >&2
    echo "package-deb.sh: dpkg-buildpackage failed; full log in $cache/build.log" >&2
    exit 1
  }
)
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
mv "$cache"/src/*_"$version"_*.deb "$cache"/src/*_"$version"_*.buildinfo \
  "$cache"/src/*_"$version"_*.changes "$out"/
if ! lintian --fail-on error,warning \
  "$out"/*.changes >"$cache/lintian.log" 2>&1; then
  cat "$cache/lintian.log" >&2
  echo "package-deb.sh: lintian found problems (above)" >&2
  exit 1
fi
echo "$out"
