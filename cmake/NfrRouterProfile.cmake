# NFR_ROUTER_PROFILE: the smallest nfr-agent/nfrctl for flash-constrained routers: -Os, LTO over
# our own code, one section per function so --gc-sections drops what is unused, no PIE (a PIE
# carries ~1.3 MiB of relative relocations: the Debian 12 cross linkers ignore
# -z pack-relative-relocs on aarch64), no gRPC server reflection, and every library but the C
# library linked from its static archive (NfrStaticLink.cmake). The C library stays shared: glibc's
# NSS (getgrnam for the API socket group) does not work statically. deploy/README.md has the sizes.
include_guard(GLOBAL)
option(NFR_ROUTER_PROFILE "Size-optimised router build: -Os, LTO, static libraries" OFF)
option(NFR_ROUTER_SHARED_SSL
       "Router profile: link OpenSSL (libssl, libcrypto; ~3.4 MiB) shared, as OpenWrt's libopenssl"
       OFF)
if(NFR_ROUTER_PROFILE)
  set(NFR_STATIC_GRPC ON CACHE BOOL "" FORCE)
  # The top-level default (RelWithDebInfo) is a normal variable; both must say MinSizeRel.
  set(CMAKE_BUILD_TYPE MinSizeRel CACHE STRING "" FORCE)
  set(CMAKE_BUILD_TYPE MinSizeRel)
  add_compile_options(-ffunction-sections -fdata-sections)
  set(CMAKE_POSITION_INDEPENDENT_CODE OFF)
  add_compile_options(-fno-pie)
  add_link_options(-no-pie)
  add_compile_definitions(NFR_NO_GRPC_REFLECTION)
  include(CheckIPOSupported)
  check_ipo_supported(RESULT nfr_ipo OUTPUT nfr_ipo_why LANGUAGES C CXX)
  if(nfr_ipo)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
  else()
    message(WARNING "NFR_ROUTER_PROFILE: no LTO with this compiler: ${nfr_ipo_why}")
  endif()
  add_link_options(LINKER:--gc-sections)
endif()

# Set after find_package(gRPC): whether agent/router/grpc_core_config.cc replaces gRPC's plugin
# registry. It mirrors gRPC 1.51's registry (Debian 12); another version keeps the stock one.
function(nfr_router_grpc_check)
  if(NOT NFR_ROUTER_PROFILE)
    return()
  endif()
  if(gRPC_VERSION VERSION_GREATER_EQUAL 1.51 AND gRPC_VERSION VERSION_LESS 1.52)
    set(NFR_ROUTER_MINIMAL_GRPC ON PARENT_SCOPE)
    message(STATUS "NFR_ROUTER_PROFILE: gRPC ${gRPC_VERSION} without xDS/RLS/grpclb registrations")
  else()
    message(STATUS "NFR_ROUTER_PROFILE: gRPC ${gRPC_VERSION} is not 1.51; its full plugin "
                   "registry stays (agent/router/grpc_core_config.cc mirrors 1.51)")
  endif()
endfunction()
