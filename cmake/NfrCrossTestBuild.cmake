# NFR_CROSS_TEST_BUILD: the build scripts/cross-test.sh makes to run the unit and api tiers under
# qemu-user. Its cost is a cold CI run's, so it compiles for speed: the generated protobuf/gRPC
# code in unity batches, and precompiled headers (gRPC, protobuf, abseil, gtest: most of every
# C++ file's compile time) shared by every target (cross-test.sh also compiles at -O1 without -g).
# deploy/README.md has the times. Native builds never use it (they must catch missing includes).
include_guard(GLOBAL)
option(NFR_CROSS_TEST_BUILD "Fast-compiling build for the cross test tiers (scripts/cross-test.sh)"
       OFF)
if(NFR_CROSS_TEST_BUILD)
  # GCC 12 at -O1 reports false out-of-bounds copies in inlined std::string moves (the native
  # -O2 build keeps them as errors).
  add_compile_options(-Wno-error=array-bounds -Wno-error=stringop-overflow)
  # Applied once every target exists (end of the top-level directory).
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL nfr_cross_test_build_targets)
endif()

function(nfr_cross_test_build_targets)
  if(TARGET nfr_proto)
    # The gRPC stubs are unity-safe (names carry the service's); the messages' file-level
    # statics (`schemas`, ...) are not.
    get_target_property(srcs nfr_proto SOURCES)
    list(FILTER srcs INCLUDE REGEX "\\.pb\\.cc$")
    list(FILTER srcs EXCLUDE REGEX "\\.grpc\\.pb\\.cc$")
    set_source_files_properties(${srcs} DIRECTORY ${PROJECT_SOURCE_DIR}/proto
                                PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    set_target_properties(nfr_proto PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
  endif()
  # Two headers: gtest's CMake target defines GTEST_HAS_PTHREAD, and a precompiled header is only
  # used where the macros it saw are the same.
  find_package(GTest REQUIRED)
  foreach(kind base test)
    add_library(nfr_cross_pch_${kind} STATIC ${PROJECT_SOURCE_DIR}/cmake/nfr_cross_pch.cc)
    target_link_libraries(nfr_cross_pch_${kind} PRIVATE protobuf::libprotobuf gRPC::grpc++
                          absl::status absl::statusor absl::strings absl::time
                          absl::synchronization)
  endforeach()
  target_precompile_headers(nfr_cross_pch_base PRIVATE ${PROJECT_SOURCE_DIR}/cmake/nfr_cross_pch.h)
  target_link_libraries(nfr_cross_pch_test PRIVATE GTest::gtest)
  target_precompile_headers(nfr_cross_pch_test PRIVATE ${PROJECT_SOURCE_DIR}/cmake/nfr_cross_pch.h
                            <gtest/gtest.h>)
  get_property(subdirs DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY SUBDIRECTORIES)
  foreach(d ${subdirs})
    nfr_cross_pch_dir(${d})
  endforeach()
endfunction()

# Every C++ target below DIR reuses one of the two precompiled headers.
function(nfr_cross_pch_dir dir)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(s ${subdirs})
    nfr_cross_pch_dir(${s})
  endforeach()
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "STATIC_LIBRARY" OR type STREQUAL "EXECUTABLE")
      get_target_property(srcs ${t} SOURCES)
      get_target_property(libs ${t} LINK_LIBRARIES)
      if(NOT srcs MATCHES "\\.(cc|cpp)(;|$)")
        continue()
      endif()
      # The headers were made with -pthread (gRPC's targets add it). Should a target's macros
      # still differ, the compiler says so and reads the headers instead.
      target_compile_options(${t} PRIVATE -pthread -Wno-error=invalid-pch)
      if(libs MATCHES "GTest::|nfr_api_test_support")
        target_precompile_headers(${t} REUSE_FROM nfr_cross_pch_test)
      else()
        target_precompile_headers(${t} REUSE_FROM nfr_cross_pch_base)
      endif()
    endif()
  endforeach()
endfunction()
