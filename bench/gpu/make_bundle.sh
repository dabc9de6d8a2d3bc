#!/usr/bin/env bash
# Packs the GPU programs for the lent GPU machine (an H200), whose bare CUDA image has nvcc 13,
# CMake and python3 but none of Debian's Qt 6, OpenCV, libcurl, X11, ... and can install nothing.
# Two steps:
#   1. here (Debian 12 with the project's dependencies and CUDA 13):
#        bench/gpu/make_bundle.sh [--bench | --nano]    (JOBS=N build jobs, default 2)
#   2. on the device: the device tool's `run` with carry ["build-gpu/device-bundle.tar.xz"] and
#      command "bash bench/gpu/run_h200.sh" (or "bash bench/gpu/run_h200.sh --quick").
# --bench packs the benchmarks alone into build-gpu/device-bench.tar.xz (carry that instead):
# no tests, no ctest, no Qt or OpenCV; for when the tree and the whole bundle pass 64 MiB.
# --nano packs deskpilot-nano's GPU test alone (GPU_NANO_TEST, no ctest: run_h200.sh runs the
# program itself) into build-gpu/device-nano.tar.xz, with ICU's data and LAPACK as stand-ins too,
# so that it travels beside the whole tree, the committed checkpoint included.
# It builds GPU_TARGETS (bench/gpu/gpu_targets.sh: Release, sm_90 only) in build-gpu/ and writes
# build-gpu/device-bundle.tar.xz, which unpacks into the repository root:
#   build-gpu/{bin,bench,tests/bin}/...   the programs, at their build paths
#   build-gpu/**/CTestTestfile.cmake      what ctest reads
#   build-gpu/device/ctest                this machine's ctest (so the tests' libraries never meet
#                                         the device's own cmake)
#   build-gpu/device/lib/                 every library those load except glibc's, the driver
#                                         (libcuda) and cuBLAS, which the device has; the optional
#                                         OpenCV decoders below as stand-ins (bench/gpu/bundle_libs.py)
#   build-gpu/device/BUNDLE_INFO          where it was built, from which commit, glibc it needs
#   build-gpu/device/MANIFEST.txt         each library, its size, source and Debian package
# The programs keep this checkout's absolute paths (tests/data, build-gpu/bin/deskpilot):
# run_h200.sh makes that path a link to wherever the device puts its copy of the tree, so the
# device's copy must be of the same commit. Make the bundle again after any change the GPU
# programs run (run_h200.sh prints the commit the bundle came from).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/gpu/gpu_targets.sh
source bench/gpu/gpu_targets.sh
JOBS=${JOBS:-2}
B=$GPU_BUILD_DIR
KIND=all
OUTF=$GPU_BUNDLE
case "${1:-}" in
  "") ;;
  --bench) KIND=bench OUTF=$GPU_BENCH_BUNDLE ;;
  --nano) KIND=nano OUTF=$GPU_NANO_BUNDLE ;;
  *) echo "make_bundle: unknown argument '$1' (expected nothing, --bench or --nano)" >&2; exit 2 ;;
esac
mapfile -t TARGETS < <(gpu_targets_of "$KIND")
# Debian's libopencv_imgcodecs links the GDAL, DICOM (gdcm) and OpenEXR decoders; with what they
# pull in that is ~80 MB of libraries that the GPU programs (PNG/JPEG only) never call, too much
# for the 64 MiB the device tool carries. These travel as stand-ins (bench/gpu/bundle_libs.py).
STUBS=(libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0 libOpenEXR-3_1.so.30)
# The nano bundle's room is what the tree leaves (about 16 MiB), so two more travel as stand-ins:
# ICU's data (31 MB; Qt Core links ICU, and the test calls nothing that opens its data) and LAPACK
# (what OpenCV's core links for its solvers; the test reads and resizes images only).
NANO_STUBS=(libicudata.so.72 liblapack.so.3)
LIMIT_MIB=64  # what the device tool carries in all: the working tree plus the bundle

for tool in cmake ctest python3 readelf ldd xz cc git; do
  command -v "$tool" >/dev/null || { echo "make_bundle: $tool is missing" >&2; exit 1; }
done

echo "== build: $B, ${#TARGETS[@]} targets ($KIND), -j$JOBS"
cmake -S . -B "$B" "${GPU_CMAKE_ARGS[@]}" >/dev/null
cmake --build "$B" -j"$JOBS" --target "${TARGETS[@]}"
# The absolute paths the programs and CTestTestfile.cmake files carry are the build's own.
SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$B/CMakeCache.txt")
[[ $(cd "$SRC" && pwd -P) == "$(pwd -P)" ]] || { echo "make_bundle: $B was configured from $SRC, not here" >&2; exit 1; }

echo "== stage"
STAGE=$B/device-stage
D=$STAGE/$B/device
rm -rf "$STAGE"
mkdir -p "$D/lib"
programs=()
for t in "${TARGETS[@]}"; do
  mapfile -t found < <(find "$B" -path "$STAGE" -prune -o -path '*/CMakeFiles' -prune -o \
    -type f -name "$t" -perm -u+x -print)
  if [[ ${#found[@]} != 1 ]]; then
    echo "make_bundle: expected one built '$t' under $B, found ${#found[@]}: ${found[*]}" >&2
    exit 1
  fi
  mkdir -p "$STAGE/$(dirname "${found[0]}")"
  cp "${found[0]}" "$STAGE/${found[0]}"
  programs+=("${found[0]}")
done
tools=() stub_args=()
[[ $KIND != nano ]] || STUBS+=("${NANO_STUBS[@]}")
[[ $KIND == bench ]] || stub_args=("${STUBS[@]/#/--stub=}")  # the benchmarks load no OpenCV
if [[ $KIND == all ]]; then
  while IFS= read -r f; do
    mkdir -p "$STAGE/$(dirname "$f")"
    cp "$f" "$STAGE/$f"
  done < <(find "$B" -path "$STAGE" -prune -o -name CTestTestfile.cmake -print)
  cp "$(readlink -f "$(command -v ctest)")" "$D/ctest"
  tools=("$D/ctest")
fi

commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD -- || commit+="+uncommitted"
{
  echo "# Written by bench/gpu/make_bundle.sh, read by bench/gpu/run_h200.sh."
  printf 'BUNDLE_SOURCE_DIR=%q\n' "$SRC"
  printf 'BUNDLE_BUILD_DIR=%q\n' "$B"
  printf 'BUNDLE_COMMIT=%q\n' "$commit"
  printf 'BUNDLE_MADE=%q\n' "$(date -u +%Y-%m-%dT%H:%MZ) on $(hostname)"
  printf 'BUNDLE_CUDA=%q\n' "$(sed -n 's/.*CMAKE_CUDA_COMPILER_VERSION "\(.*\)".*/\1/p' \
    "$B"/CMakeFiles/*/CMakeCUDACompiler.cmake | head -1)"
  printf 'BUNDLE_PROGRAMS=%q\n' "${programs[*]}"
  printf 'BUNDLE_KIND=%q\n' "$KIND"
  printf 'BUNDLE_TOOLS=%q\n' "${tools[*]#"$STAGE/"}"  # the bundle's own tools (ctest), checked like the programs
} >"$D/BUNDLE_INFO"

echo "== libraries"
stage_programs=()
for p in "${programs[@]}"; do stage_programs+=("$STAGE/$p"); done
python3 bench/gpu/bundle_libs.py --lib-dir "$D/lib" --info "$D/BUNDLE_INFO" \
  "${stub_args[@]}" "${stage_programs[@]}" "${tools[@]}"
# No RUNPATH: LD_LIBRARY_PATH alone decides, so a device library never shadows a bundled one.
# shellcheck disable=SC2016  # ${f} is CMake's, not the shell's
printf 'foreach(f IN LISTS FILES)\n  file(RPATH_REMOVE FILE "${f}")\nendforeach()\n' >"$STAGE/rpath.cmake"
elves=("${stage_programs[@]}" "${tools[@]}" "$D"/lib/*)
cmake -DFILES="$(IFS=';' && echo "${elves[*]}")" -P "$STAGE/rpath.cmake"
rm "$STAGE/rpath.cmake"

echo "== pack"
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner -cf - "$B" | xz -9 -T"$JOBS" >"$OUTF.part"
mv "$OUTF.part" "$OUTF"
rm -rf "$STAGE"
bytes=$(stat -c %s "$OUTF")
tree=$( (git ls-files -z && git ls-files -z --others --exclude-standard) | du -cb --files0-from=- | tail -1 | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "== $OUTF: $(mib "$bytes") MiB ($commit); with the working tree ($(mib "$tree") MiB): $(mib $((bytes + tree))) of the device tool's $LIMIT_MIB MiB"
if ((bytes + tree > LIMIT_MIB * 1048576)); then
  echo "make_bundle: too big to travel: the bundle and the working tree pass $LIMIT_MIB MiB" >&2
  exit 1
fi
echo "   device: run with carry [\"$OUTF\"] and command \"bash bench/gpu/run_h200.sh\" (or --quick)"
