# Cross toolchain for Debian armhf (crossbuild-essential), see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(NFR_CROSS_TRIPLET arm-linux-gnueabihf)
set(NFR_CROSS_QEMU arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
