# nfr_lean_link(<target>): link settings that lower a daemon's resident memory.
# Each shared library costs resident pages for its symbol tables, relocations and scattered code
# (the kernel maps 64 KiB, or a whole large page-cache folio, around every touched page); gRPC,
# protobuf and abseil alone are 50+ libraries and ~8 MiB of the agent's idle RSS. With
# NFR_STATIC_GRPC they, and libstdc++, are linked from Debian's static archives and unused sections
# are dropped. OpenSSL, SQLite, libbpf, libnetfilter_queue and glibc stay shared so they keep
# getting security updates.
include_guard(GLOBAL)
include(CheckLinkerFlag)

option(NFR_STATIC_GRPC
       "Link gRPC, protobuf, abseil and libstdc++ statically into nfr-agent and nfrctl" ON)

check_linker_flag(CXX "LINKER:-z,pack-relative-relocs" NFR_HAVE_PACK_RELATIVE_RELOCS)

# Static archives that replace the shared gRPC/protobuf/abseil libraries, or empty when one is
# missing (then the link stays shared and configure says why).
function(_nfr_static_grpc_archives out)
  set(${out} "" PARENT_SCOPE)
  get_target_property(grpc_so gRPC::grpc LOCATION)
  get_filename_component(libdir "${grpc_so}" DIRECTORY)
  pkg_check_modules(NFR_GRPC_PC QUIET grpc++ protobuf)
  if(NOT NFR_GRPC_PC_FOUND)
    message(WARNING "NFR_STATIC_GRPC: pkg-config finds no grpc++/protobuf; linking them shared")
    return()
  endif()
  # System libraries the archives need stay shared (they come with the shared targets).
  set(keep_shared ssl crypto z dl rt m atomic pthread)
  set(names ${NFR_GRPC_PC_STATIC_LIBRARIES} grpc++_reflection)
  if(NFR_ROUTER_PROFILE)
    # Everything but the C library (and OpenSSL with NFR_ROUTER_SHARED_SSL), no reflection
    # (NfrRouterProfile.cmake). Debian ships no archive for some (libmnl, libnfnetlink); those
    # stay shared.
    list(REMOVE_ITEM names grpc++_reflection)
    set(keep_shared dl rt m pthread atomic)
    if(NFR_ROUTER_SHARED_SSL)
      list(APPEND keep_shared ssl crypto)
    endif()
    foreach(n ssl crypto z bpf elf netfilter_queue mnl nfnetlink sqlite3)
      if(EXISTS "${libdir}/lib${n}.a")
        list(APPEND names ${n})
      else()
        message(STATUS "NFR_ROUTER_PROFILE: no ${libdir}/lib${n}.a; lib${n} stays shared")
      endif()
    endforeach()
  endif()
  list(REMOVE_DUPLICATES names)
  list(REMOVE_ITEM names ${keep_shared})
  set(archives)
  foreach(n ${names})
    if(NOT EXISTS "${libdir}/lib${n}.a")
      message(WARNING "NFR_STATIC_GRPC: ${libdir}/lib${n}.a not found (install the -dev package "
                      "that provides it, see scripts/install-deps.sh); linking gRPC shared")
      return()
    endif()
    list(APPEND archives "${libdir}/lib${n}.a")
  endforeach()
  # Every abseil library (e.g. absl_flags_*, not a gRPC dependency) must come from its archive
  # too, or the process would hold two copies of abseil's globals.
  file(GLOB absl_archives "${libdir}/libabsl_*.a")
  list(APPEND archives ${absl_archives})
  list(REMOVE_DUPLICATES archives)
  set(${out} "${archives}" PARENT_SCOPE)
endfunction()

if(NFR_STATIC_GRPC)
  _nfr_static_grpc_archives(archives)
  if(archives)
    list(LENGTH archives n)
    message(STATUS "NFR_STATIC_GRPC: linking ${n} gRPC/protobuf/abseil archives statically")
    set_property(GLOBAL PROPERTY NFR_STATIC_GRPC_ARCHIVES "${archives}")
  endif()
endif()

function(nfr_lean_link target)
  target_link_options(${target} PRIVATE LINKER:--as-needed LINKER:--gc-sections)
  if(NFR_HAVE_PACK_RELATIVE_RELOCS)
    # DT_RELR: the PIE's relative relocations in a few KiB instead of ~0.5 MiB read at startup.
    target_link_options(${target} PRIVATE LINKER:-z,pack-relative-relocs)
  endif()
  get_property(archives GLOBAL PROPERTY NFR_STATIC_GRPC_ARCHIVES)
  if(archives)
    string(JOIN ":" archives ${archives})
    set_property(TARGET ${target} PROPERTY RULE_LAUNCH_LINK
                 "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/nfr_static_link.sh ${archives}")
    # No C++ shared library is left in the process, so one static libstdc++ is safe. Not under
    # sanitizers: their runtime intercepts libstdc++ functions (__cxa_throw) in the shared library.
    if(NOT "${CMAKE_CXX_FLAGS} ${CMAKE_EXE_LINKER_FLAGS}" MATCHES "-fsanitize")
      target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
    endif()
    if(NFR_ROUTER_PROFILE AND NFR_ROUTER_MINIMAL_GRPC)
      # gRPC's core configuration without xDS and friends (agent/router/grpc_core_config.cc).
      target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/agent/router/grpc_core_config.cc)
    endif()
  endif()
endfunction()
