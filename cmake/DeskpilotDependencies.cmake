# Third-party libraries, all from Debian's packages (tools/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(CURL REQUIRED)
find_package(X11 REQUIRED COMPONENTS Xext Xtst Xrandr Xfixes Xinerama)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

# OpenCV: Debian's split -dev packages (core, imgproc, imgcodecs) ship no CMake config, so
# fall back to locating the three libraries directly rather than pulling all of libopencv-dev.
find_package(OpenCV QUIET COMPONENTS core imgproc imgcodecs)
if(OpenCV_FOUND)
  add_library(deskpilot_opencv INTERFACE)
  target_include_directories(deskpilot_opencv SYSTEM INTERFACE ${OpenCV_INCLUDE_DIRS})
  target_link_libraries(deskpilot_opencv INTERFACE ${OpenCV_LIBS})
else()
  find_path(DESKPILOT_OPENCV_INCLUDE opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
  add_library(deskpilot_opencv INTERFACE)
  target_include_directories(deskpilot_opencv SYSTEM INTERFACE ${DESKPILOT_OPENCV_INCLUDE})
  foreach(component core imgproc imgcodecs)
    find_library(DESKPILOT_OPENCV_${component} opencv_${component} REQUIRED)
    target_link_libraries(deskpilot_opencv INTERFACE ${DESKPILOT_OPENCV_${component}})
  endforeach()
endif()
add_library(deskpilot::opencv ALIAS deskpilot_opencv)

# Qt 6 is needed by app/ and tests/ only.
find_package(Qt6 6.2 REQUIRED COMPONENTS Core Gui Widgets Test)

if(DESKPILOT_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(STATUS "Google Benchmark not found: bench/ is skipped")
    set(DESKPILOT_BUILD_BENCH OFF)
  endif()
endif()
