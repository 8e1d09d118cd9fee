# Shared part of the Debian cross toolchains: a crossbuild-essential-<arch> compiler on the host
# and a target sysroot made by scripts/cross-sysroot.sh (mmdebstrap). Set NFR_CROSS_TRIPLET and
# NFR_CROSS_QEMU before including; pass the sysroot as -DNFR_SYSROOT=... or $NFR_SYSROOT.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${NFR_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${NFR_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${NFR_CROSS_TRIPLET})

if(NOT NFR_SYSROOT)
  set(NFR_SYSROOT "$ENV{NFR_SYSROOT}")
endif()
if(NOT NFR_SYSROOT OR NOT EXISTS "${NFR_SYSROOT}/usr/lib/${NFR_CROSS_TRIPLET}")
  message(FATAL_ERROR "cross build: no ${NFR_CROSS_TRIPLET} sysroot at '${NFR_SYSROOT}'; make one "
                      "with scripts/cross-sysroot.sh and pass -DNFR_SYSROOT=<dir>")
endif()
# try_compile projects re-read this file; hand them the sysroot.
set(ENV{NFR_SYSROOT} "${NFR_SYSROOT}")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES NFR_SYSROOT)
set(CMAKE_SYSROOT "${NFR_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${NFR_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the sysroot's .pc files and prefixes their paths with it.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${NFR_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${NFR_SYSROOT}/usr/lib/${NFR_CROSS_TRIPLET}/pkgconfig:${NFR_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries (gtest discovery at build time, ctest) run under qemu-user with the sysroot's
# dynamic loader and libraries.
find_program(NFR_QEMU_USER qemu-${NFR_CROSS_QEMU}-static qemu-${NFR_CROSS_QEMU})
if(NFR_QEMU_USER)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${NFR_QEMU_USER};-L;${NFR_SYSROOT}")
endif()
