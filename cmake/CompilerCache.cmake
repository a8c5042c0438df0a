# ccache for every build directory (TURNPIKE_CCACHE, on by default when ccache is installed;
# scripts/lib.sh installs it). cmake/compiler-launcher holds the settings that let a clean clone
# in another folder hit the cache of an earlier build; `ccache -s` shows the hits.
option(TURNPIKE_CCACHE "Compile through ccache when it is installed" ON)
if(TURNPIKE_CCACHE)
  find_program(TURNPIKE_CCACHE_PROGRAM ccache)
  if(TURNPIKE_CCACHE_PROGRAM)
    set(launcher ${PROJECT_SOURCE_DIR}/cmake/compiler-launcher ${PROJECT_SOURCE_DIR})
    set(CMAKE_C_COMPILER_LAUNCHER ${launcher})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${launcher})
    # Debug info names source files relative to the checkout, as the cached objects do.
    add_compile_options(-fdebug-prefix-map=${PROJECT_SOURCE_DIR}=.)
  else()
    message(STATUS "ccache not found: compiling without a compiler cache")
  endif()
endif()
