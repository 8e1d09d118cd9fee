# NFR_ROUTER_PROFILE: the smallest nfr-agent/nfrctl for flash-constrained routers: -Os, LTO over
# our own code, one section per function so --gc-sections drops what is unused, and every
# library but the C library linked from its static archive (NfrStaticLink.cmake). The C library
# stays shared: glibc's NSS (getgrnam for the API socket group) does not work statically.
include_guard(GLOBAL)
option(NFR_ROUTER_PROFILE "Size-optimised router build: -Os, LTO, static libraries" OFF)
if(NFR_ROUTER_PROFILE)
  set(NFR_STATIC_GRPC ON CACHE BOOL "" FORCE)
  set(CMAKE_BUILD_TYPE MinSizeRel CACHE STRING "" FORCE)
  add_compile_options(-ffunction-sections -fdata-sections)
  include(CheckIPOSupported)
  check_ipo_supported(RESULT nfr_ipo OUTPUT nfr_ipo_why LANGUAGES C CXX)
  if(nfr_ipo)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
  else()
    message(WARNING "NFR_ROUTER_PROFILE: no LTO with this compiler: ${nfr_ipo_why}")
  endif()
  add_link_options(LINKER:--gc-sections)
endif()
