#!/usr/bin/env bash
# Link launcher for NFR_STATIC_GRPC (cmake/NfrStaticLink.cmake): runs the link command with
# every library named in $1 taken from its static archive instead of its shared object.
# usage: nfr_static_link.sh ARCHIVE[:ARCHIVE...] LINK-COMMAND...
# The archives go into one --start-group/--end-group at the place of the last shared object they
# replace, so their order does not matter; a library not on the command line (a dependency of
# libgrpc.so such as re2 or c-ares) is linked from its archive there too. The remaining shared
# libraries are repeated after the group: with --as-needed a shared library only counts for
# references seen before it, and the archives need some of them (libz, libssl, libcrypto).
set -euo pipefail

IFS=: read -r -a archives <<<"$1"
shift
declare -A static_names=()
for a in "${archives[@]}"; do
  n=${a##*/}
  n=${n#lib}
  static_names[${n%.a}]=1
done

cmd=()
shared=()
last=-1
for arg in "$@"; do
  name=""
  case "$arg" in
    @*)
      echo "nfr_static_link.sh: response file '$arg' is not supported; configure with" \
        "-DNFR_STATIC_GRPC=OFF" >&2
      exit 1
      ;;
    */lib*.so | */lib*.so.*)
      name=${arg##*/}
      name=${name#lib}
      name=${name%%.so*}
      ;;
    -l*) name=${arg#-l} ;;
  esac
  if [[ -n "$name" && -n "${static_names[$name]:-}" ]]; then
    last=${#cmd[@]}
    continue
  fi
  cmd+=("$arg")
  case "$arg" in
    */lib*.so | */lib*.so.* | -l*) shared+=("$arg") ;;
  esac
done

if ((last < 0)); then
  echo "nfr_static_link.sh: none of the static libraries is on the link command" >&2
  exit 1
fi
exec "${cmd[@]:0:last}" -Wl,--start-group "${archives[@]}" -Wl,--end-group "${shared[@]}" \
  "${cmd[@]:last}"
