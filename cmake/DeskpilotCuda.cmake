# CUDA is optional. AUTO turns it on when nvcc and cuBLAS are found; wherever nvcc exists the
# CUDA sources are compiled (even with no GPU), so they can never rot unseen.
set(DESKPILOT_HAVE_CUDA OFF)
if(NOT DESKPILOT_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(DESKPILOT_NVCC nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(DESKPILOT_NVCC)
      set(CMAKE_CUDA_COMPILER ${DESKPILOT_NVCC} CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere (A100) and Hopper (H100/H200) machine code, plus compute_90 PTX for newer GPUs.
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
    endif()
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)  # one cudart, the same one CUDA::cudart names
    enable_language(CUDA)
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND TARGET CUDA::cublas AND TARGET CUDA::cudart)
    set(DESKPILOT_HAVE_CUDA ON)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA20 flag for nvcc
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  elseif(DESKPILOT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DESKPILOT_CUDA=ON but nvcc or cuBLAS was not found; install the CUDA toolkit "
                        "or configure with -DDESKPILOT_CUDA=AUTO|OFF")
  endif()
endif()
message(STATUS "Deskpilot CUDA backend: ${DESKPILOT_HAVE_CUDA} (DESKPILOT_CUDA=${DESKPILOT_CUDA})")

# Build facts for `deskpilot --version`.
if(DESKPILOT_HAVE_CUDA)
  set(DESKPILOT_BUILD_CUDA 1)
  string(REPLACE ";" "," DESKPILOT_CUDA_ARCHS "${CMAKE_CUDA_ARCHITECTURES}")
  set(DESKPILOT_CUDA_VERSION "${CMAKE_CUDA_COMPILER_VERSION}")
else()
  set(DESKPILOT_BUILD_CUDA 0)
  set(DESKPILOT_CUDA_ARCHS "")
  set(DESKPILOT_CUDA_VERSION "")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/build_info.h.in ${PROJECT_BINARY_DIR}/generated/deskpilot/build_info.h @ONLY)
