# Cross toolchain for Debian mipsel (crossbuild-essential), see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR mipsel)
set(NFR_CROSS_TRIPLET mipsel-linux-gnu)
set(NFR_CROSS_QEMU mipsel)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
