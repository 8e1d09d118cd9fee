// Owner of the cross test build's precompiled header (NfrCrossTestBuild.cmake).
