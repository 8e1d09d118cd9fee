# Cross toolchain for Debian s390x (crossbuild-essential), see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(NFR_CROSS_TRIPLET s390x-linux-gnu)
set(NFR_CROSS_QEMU s390x)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
