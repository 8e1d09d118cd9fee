# Cross toolchain for Debian aarch64 (crossbuild-essential), see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(NFR_CROSS_TRIPLET aarch64-linux-gnu)
set(NFR_CROSS_QEMU aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
