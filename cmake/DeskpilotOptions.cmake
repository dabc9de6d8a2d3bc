# Build options shared by every module.
set(DESKPILOT_CUDA AUTO CACHE STRING "Build the CUDA engine backend: AUTO (when nvcc and cuBLAS are found), ON or OFF")
set_property(CACHE DESKPILOT_CUDA PROPERTY STRINGS AUTO ON OFF)
option(DESKPILOT_BUILD_TESTS "Build the Qt Test suites" ON)
option(DESKPILOT_BUILD_BENCH "Build the benchmarks in bench/" ON)
set(DESKPILOT_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")

if(DESKPILOT_SANITIZE)
  add_compile_options(-fsanitize=${DESKPILOT_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${DESKPILOT_SANITIZE})
endif()

# Warnings for our own C++ code (not for CUDA device code, where nvcc passes them on).
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra;-Wpedantic;-Wno-missing-field-initializers>")

# deskpilot_module(NAME SOURCES ... DEPS ...) builds the library deskpilot_NAME with its
# folder's parent as the include root, so headers are included as "vision/frame.h".
function(deskpilot_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(deskpilot_${name} STATIC ${ARG_SOURCES})
  add_library(deskpilot::${name} ALIAS deskpilot_${name})
  target_include_directories(deskpilot_${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(deskpilot_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()
