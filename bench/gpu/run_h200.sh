#!/usr/bin/env bash
# One-shot GPU check and benchmark for a machine with an NVIDIA GPU (written for an H200; the
# build is sm_90 machine code only, so Hopper). Runs the GPU tests (the test_* of GPU_TARGETS in
# bench/gpu/gpu_targets.sh: kernels vs CPU twins, decoders and vision towers vs the CPU ones, the
# CUDA CLI), then the real-shape decode/prefill benchmarks.
#   bench/gpu/run_h200.sh [--quick]        (--quick: 8 layers, shorter prompt; ~1 minute)
# Where the programs come from:
#  - build-gpu/device-bundle.tar.xz, or else build-gpu/device-nano.tar.xz (make_bundle.sh --nano:
#    deskpilot-nano's GPU test alone, run twice, with each flash kernel; nothing else), or else
#    build-gpu/device-bench.tar.xz (make_bundle.sh --bench: the benchmarks alone, no tests), when
#    present (DESKPILOT_GPU_BUNDLE names another): the
#    lent H200 runs a bare CUDA image (no Qt, OpenCV, curl, X11, ...; nothing installable), so
#    the programs are built and packed on the dev machine and carried:
#      1. here:   bench/gpu/make_bundle.sh
#      2. device: `run` with carry ["build-gpu/device-bundle.tar.xz"] and
#                 command "bash bench/gpu/run_h200.sh" (or "... --quick")
#    This script then unpacks it into build-gpu/, links the path the bundle was built at to this
#    tree (the programs keep their absolute paths to tests/data and build-gpu/bin; needs root
#    where that path's parent does not exist), finds cuBLAS and the driver on the machine and runs
#    the programs and the bundle's ctest with the bundle's libraries. It stops with one line
#    naming what is missing (glibc too old, no cuBLAS, a library not found, a GPU that nvidia-smi
#    sees but CUDA does not) before running anything.
#  - otherwise: builds GPU_TARGETS from source in build-gpu/ (needs the project's Debian
#    dependencies and CUDA 13).
# The first line printed is the facts: GPU and driver, nvcc, glibc, where cuBLAS and libcuda were
# found, and the commit the bundle was made from (its tree must be this tree's commit).
# Output goes to stdout and to $OUT/gpu_results.txt (or bench/gpu/last_run.txt without $OUT).
# Copy the figures into bench/RESULTS.md with the date and the device.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/gpu/gpu_targets.sh
source bench/gpu/gpu_targets.sh
ROOT=$(pwd -P)
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
LOG="${OUT:-bench/gpu}/$([[ -n "${OUT:-}" ]] && echo gpu_results.txt || echo last_run.txt)"
exec > >(tee "$LOG") 2>&1
trap 'echo "== stopped: \"$BASH_COMMAND\" failed (exit $?)"' ERR
die() {
  echo "== cannot run: $*"
  exit 1
}
BUNDLE=${DESKPILOT_GPU_BUNDLE:-}
if [[ -z $BUNDLE ]]; then
  BUNDLE=$GPU_BUNDLE
  for b in "$GPU_BUNDLE" "$GPU_NANO_BUNDLE" "$GPU_BENCH_BUNDLE"; do [[ -f $b ]] && BUNDLE=$b && break; done
fi

# --- Facts about the machine -------------------------------------------------------------------
gpu_fact=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
  paste -sd';' || true)
gpu_count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
nvcc_fact=$("$nvcc_bin" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\), V\([0-9.]*\).*/\2/p' || true)
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}' || true)
[[ -n $glibc ]] || glibc=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}' || true)
IFS=: read -ra ld_dirs <<<"${LD_LIBRARY_PATH:-}"

# The directory holding both cuBLAS libraries: the CUDA toolkit's first (it matches nvcc), then
# LD_LIBRARY_PATH, the loader's cache, then pip's nvidia-cublas wheels (nvidia/*/lib).
find_cublas() {
  local d site py
  for d in ${CUDA_HOME:+"$CUDA_HOME/lib64"} /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib "${ld_dirs[@]}"; do
    [[ -n $d && -e $d/libcublas.so.13 && -e $d/libcublasLt.so.13 ]] && echo "$d" && return
  done
  d=$(ldconfig -p 2>/dev/null | awk '$1 == "libcublas.so.13" {print $NF; exit}' || true)
  [[ -n $d && -e $(dirname "$d")/libcublasLt.so.13 ]] && dirname "$d" && return
  for py in python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" >/dev/null || continue
    while IFS= read -r site; do
      [[ -d $site/nvidia ]] || continue
      d=$(find "$site/nvidia" -maxdepth 3 -name libcublas.so.13 -print -quit 2>/dev/null || true)
      [[ -n $d && -e $(dirname "$d")/libcublasLt.so.13 ]] && dirname "$d" && return
    done < <("$py" -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null || true)
  done
  return 0
}
# The driver's libcuda.so.1 (cudart loads it at run time): LD_LIBRARY_PATH, the cache, then the
# usual driver folders.
find_libcuda() {
  local d
  for d in "${ld_dirs[@]}"; do [[ -n $d && -e $d/libcuda.so.1 ]] && echo "$d/libcuda.so.1" && return; done
  d=$(ldconfig -p 2>/dev/null | awk '$1 == "libcuda.so.1" {print $NF; exit}' || true)
  [[ -n $d ]] && echo "$d" && return
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib; do
    [[ -e $d/libcuda.so.1 ]] && echo "$d/libcuda.so.1" && return
  done
  return 0
}

# An executable on PATH (bash's `command -v` also names a file it may not execute).
have() {
  local p
  p=$(command -v "$1") && [[ -x $p ]]
}
# unpack [-O] [MEMBER]: the bundle into this tree (all of it, or the folder MEMBER), or with -O
# the file MEMBER to stdout. tar needs xz for that; where xz is missing, python3's tarfile does it.
unpack() {
  local to_stdout=0
  [[ ${1:-} == -O ]] && to_stdout=1 && shift
  if have xz; then
    if ((to_stdout)); then tar -xJOf "$BUNDLE" --occurrence=1 "$1"; else tar -xJf "$BUNDLE" "$@"; fi
    return
  fi
  python3 - "$BUNDLE" "$to_stdout" "$@" <<'PY'
import sys, tarfile
bundle, to_stdout, want = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
with tarfile.open(bundle, "r:xz") as t:
    if to_stdout:
        sys.stdout.write(t.extractfile(want[0]).read().decode())
    else:
        members = [m for m in t.getmembers() if not want or m.name == want[0] or m.name.startswith(want[0] + "/")]
        t.extractall(".", members, **({"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}))
PY
}
# What a program loads: ldd, or the loader itself where ldd is missing.
list_libs() {
  if have ldd; then ldd "$1"; else /lib64/ld-linux-x86-64.so.2 --list "$1"; fi
}

cublas_dir=$(find_cublas)
libcuda=$(find_libcuda)
info=
if [[ -f $BUNDLE ]]; then
  info=$(unpack -O "$GPU_BUILD_DIR/device/BUNDLE_INFO" 2>/dev/null || true)
  eval "$info"
  BUNDLE_KIND=${BUNDLE_KIND:-all}
  source_fact="$BUNDLE_KIND bundle ${BUNDLE_COMMIT:-?} (made ${BUNDLE_MADE:-?} at ${BUNDLE_SOURCE_DIR:-?}, nvcc ${BUNDLE_CUDA:-?})"
  [[ -d .git ]] && command -v git >/dev/null &&
    source_fact+=", this tree $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
else
  source_fact="no bundle ($BUNDLE): build from source"
fi
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname) | GPU: ${gpu_fact:-none (nvidia-smi: none or no GPU)}" \
  "| nvcc ${nvcc_fact:-absent} | glibc ${glibc:-?} | cuBLAS: ${cublas_dir:-NOT FOUND}" \
  "| libcuda: ${libcuda:-not found} | $source_fact"

if [[ -f $BUNDLE ]]; then
  # --- The bundle: check, unpack, link --------------------------------------------------------
  have xz || have python3 || die "neither xz nor python3 here to unpack $BUNDLE"
  [[ -n $info ]] || die "cannot read $GPU_BUILD_DIR/device/BUNDLE_INFO from $BUNDLE (not made by bench/gpu/make_bundle.sh?)"
  [[ -n $cublas_dir ]] || die "libcublas.so.13 and libcublasLt.so.13 not found (looked in /usr/local/cuda*/lib64," \
    "LD_LIBRARY_PATH, ldconfig, python3's nvidia packages); the bundle's programs cannot start without them"
  [[ -n $glibc && $(printf '%s\n' "$BUNDLE_GLIBC_NEEDED" "$glibc" | sort -V | head -1) == "$BUNDLE_GLIBC_NEEDED" ]] ||
    die "glibc ${glibc:-unknown} here, the bundle's Debian 12 libraries need glibc >= $BUNDLE_GLIBC_NEEDED"
  [[ $BUNDLE_BUILD_DIR == "$GPU_BUILD_DIR" ]] || die "the bundle was built in $BUNDLE_BUILD_DIR, this script expects $GPU_BUILD_DIR"
  if [[ -d $BUNDLE_SOURCE_DIR && $(cd "$BUNDLE_SOURCE_DIR" && pwd -P) == "$ROOT" ]]; then
    # Already at the bundle's path: an earlier run's link (unpack again: the bundle may be new),
    # or the tree it was built in, whose build stays (only the libraries and ctest are unpacked).
    if [[ -f $GPU_BUILD_DIR/CMakeCache.txt ]]; then unpack "$GPU_BUILD_DIR/device"; else unpack; fi
  else
    if [[ -L $BUNDLE_SOURCE_DIR ]]; then
      ln -sfn "$ROOT" "$BUNDLE_SOURCE_DIR" || die "cannot repoint the link $BUNDLE_SOURCE_DIR to $ROOT"
    elif [[ -e $BUNDLE_SOURCE_DIR ]]; then
      die "the bundle's programs use $BUNDLE_SOURCE_DIR, which exists here and is not this tree ($ROOT)"
    else
      { mkdir -p "$(dirname "$BUNDLE_SOURCE_DIR")" && ln -s "$ROOT" "$BUNDLE_SOURCE_DIR"; } 2>/dev/null ||
        die "cannot link $BUNDLE_SOURCE_DIR to $ROOT (the programs use that path; run as root)"
    fi
    unpack
    echo "== unpacked $BUNDLE; $BUNDLE_SOURCE_DIR -> $ROOT"
  fi
  # Through the link, so the paths are the ones the build wrote into the programs and ctest files.
  BUILD=$BUNDLE_SOURCE_DIR/$GPU_BUILD_DIR
  CTEST=$ROOT/$GPU_BUILD_DIR/device/ctest
  RUN_LD=$ROOT/$GPU_BUILD_DIR/device/lib:$cublas_dir
  if [[ -n $libcuda ]]; then
    case ${libcuda%/*} in
      /lib | /usr/lib | /lib64 | /usr/lib64 | /lib/x86_64-linux-gnu | /usr/lib/x86_64-linux-gnu) ;;
      *) RUN_LD+=:${libcuda%/*} ;;
    esac
  fi
  # Every library each program loads must resolve now, not halfway through the run.
  missing=()
  for p in $BUNDLE_PROGRAMS ${BUNDLE_TOOLS:-}; do
    while read -r lib; do missing+=("$lib (${p##*/})"); done < <(LD_LIBRARY_PATH=$RUN_LD list_libs "$ROOT/$p" 2>&1 |
      awk '/not found/ {print $1}')
  done
  ((${#missing[@]} == 0)) || die "libraries not found with LD_LIBRARY_PATH=$RUN_LD: ${missing[*]}"
else
  # --- From source ----------------------------------------------------------------------------
  BUNDLE_KIND=all
  BUILD=$GPU_BUILD_DIR
  CTEST=ctest
  RUN_LD=
  cmake -S . -B "$BUILD" "${GPU_CMAKE_ARGS[@]}" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target "${GPU_TARGETS[@]}"
fi
# The bundle's libraries for its programs only: the machine's own tools keep their libraries.
with_libs() {
  if [[ -n $RUN_LD ]]; then LD_LIBRARY_PATH=$RUN_LD "$@"; else "$@"; fi
}
# Time limits, so that one hung program (the first run of new GPU code may hang) cannot spend the
# lease: the whole gpu test run, and each benchmark. The tests' own CTest limit is 300 s each.
TEST_LIMIT_S=${DESKPILOT_GPU_TEST_LIMIT_S:-300}
BENCH_LIMIT_S=${DESKPILOT_GPU_BENCH_LIMIT_S:-150}
limited() {
  local s=$1
  shift
  if have timeout; then timeout -k 5 "$s" "$@"; else "$@"; fi
}
# Each section's header says how far into the run it starts, to plan the next lease.
section() { echo "== [+${SECONDS}s] $*"; }

((gpu_count > 0)) || echo "== no GPU here: the gpu tests will skip, the benchmarks will fail"
if [[ $BUNDLE_KIND == all ]]; then
  version=$(with_libs "$BUILD/bin/deskpilot" --version 2>&1) || die "$BUILD/bin/deskpilot --version failed: $version"
  echo "$version"
  cuda_gpus=$(sed -n 's/.*, \([0-9]*\) GPU(s) visible.*/\1/p' <<<"$version")
  if ((gpu_count > 0)) && [[ ${cuda_gpus:-0} == 0 ]]; then
    die "nvidia-smi lists $gpu_count GPU(s) but the CUDA runtime in these programs sees none (libcuda: ${libcuda:-not found})"
  fi
  section "gpu tests (kernels vs CPU twins, decoder and vision tower vs the CPU ones, CLI, options)"
  # Four at a time: the tests are independent and the GPU's memory is far from full.
  with_libs limited "$TEST_LIMIT_S" "$CTEST" --test-dir "$BUILD" -R "$(gpu_test_regex)" -j4 --no-tests=error \
    --output-on-failure || echo "== gpu tests: exit $? (124: stopped at the ${TEST_LIMIT_S} s limit)"
  # ctest shows a passing test's output only on failure: the per-position figures of the long
  # prompt (how many of 16421 positions the MoE decoder's routing moved past the tolerance).
  section "long-context parity, position by position"
  with_libs limited 120 "$BUILD/tests/bin/test_engine_cuda_long_prompts" longContextMatchesCpu 2>&1 |
    grep -E "positions|^FAIL|^Totals" || true
  # The tensor-core flash kernel (opt-in until this passes on a GPU): every gpu test again with
  # it serving the towers' and the decoders' prefill attention.
  section "gpu tests with DESKPILOT_CUDA_FLASH=mma (the tensor-core flash attention)"
  DESKPILOT_CUDA_FLASH=mma with_libs limited "$TEST_LIMIT_S" "$CTEST" --test-dir "$BUILD" \
    -R "$(gpu_test_regex)" -j4 --no-tests=error --output-on-failure ||
    echo "== gpu tests (mma): exit $? (124: stopped at the ${TEST_LIMIT_S} s limit)"
  DESKPILOT_CUDA_FLASH=mma with_libs limited 120 "$BUILD/tests/bin/test_engine_cuda_long_prompts" \
    longContextMatchesCpu 2>&1 | grep -E "positions|^FAIL|^Totals" || true
  # Programmatic dependent launch (opt-in until this passes on a GPU): the tests that decode,
  # again with it.
  section "decoder gpu tests with DESKPILOT_CUDA_PDL=1 (programmatic dependent launch)"
  DESKPILOT_CUDA_PDL=1 with_libs limited "$TEST_LIMIT_S" "$CTEST" --test-dir "$BUILD" \
    -R '^(test_model_cuda_kernels|test_engine_cuda_cli|test_engine_cuda_vlm|test_engine_cuda_qwen2_5|test_engine_cuda_long_prompts)$' \
    -j4 --no-tests=error --output-on-failure ||
    echo "== gpu tests (PDL): exit $? (124: stopped at the ${TEST_LIMIT_S} s limit)"
elif [[ $BUNDLE_KIND == nano ]]; then
  # deskpilot-nano's checkpoint on the GPU against the CPU engine (its coordinate readout, the
  # greedy answer, the click), with each flash kernel serving the tower's and the prefill's
  # attention; nothing else is in this bundle.
  nano=$BUILD/tests/bin/$GPU_NANO_TEST
  [[ -f models/deskpilot-nano/model.safetensors ]] ||
    echo "== models/deskpilot-nano/model.safetensors is not in this tree: the test will skip"
  for flash in f32 mma; do
    section "$GPU_NANO_TEST with DESKPILOT_CUDA_FLASH=$flash"
    DESKPILOT_CUDA_FLASH=$flash with_libs limited "$TEST_LIMIT_S" "$nano" ||
      echo "== $GPU_NANO_TEST ($flash): exit $? (124: stopped at the ${TEST_LIMIT_S} s limit)"
  done
  section "done $(date -u) (the nano bundle holds no benchmarks)"
  exit 0
else
  echo "== gpu tests: not in this bundle (benchmarks only; bench/gpu/make_bundle.sh without --bench packs them)"
fi
section "prefill attention (flash mma vs f32 vs the split-K kernel; vision segments mma vs f32)"
with_libs limited "$BENCH_LIMIT_S" "$BUILD/bench/bench_cuda_attention" || echo "== bench_cuda_attention: exit $?"
# A failing benchmark is reported and the others still run: the device time is too short to rerun.
failures=()
bench() {
  local name=$1 rc=0
  shift
  with_libs limited "$BENCH_LIMIT_S" "$BUILD/bench/$name" "$@" || rc=$?
  ((rc == 0)) && return
  echo "== FAILED: $name $* (exit $rc$( ((rc != 124)) || echo ": stopped at the ${BENCH_LIMIT_S} s limit"))"
  failures+=("$name $*")
}
decode() { bench bench_cuda_decode "$@"; }
section "benchmark"
if [[ $QUICK == 1 ]]; then
  decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --fused both
  decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --fused both
  section "programmatic dependent launch of the decode step's kernels vs plain launches"
  decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --pdl both
  decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --pdl both
  section "MoE prefill: grouped on the device vs on the host"
  bench bench_cuda_moe --repeats 5
  decode --layers 8 --prompt-tokens 1024 --decode-tokens 16 --moe-grouping both
  section "batch-1 GEMMs: the engine's matrix-vector kernels vs cuBLAS"
  decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --gemv both
  decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --gemv both
  section "KV cache: bf16 vs f32 at long context"
  decode --layers 8 --prompt-tokens 8192 --decode-tokens 64 --kv both
  section "decode steps as CUDA graphs vs eager"
  decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --graphs both
  decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --graphs both
  section "agent step on the GPU: vision tower + prefill + decode for a 1920x1080 screenshot"
  bench bench_cuda_prefill --layers 8 --depth 9 --repeats 2
  bench bench_cuda_prefill --model qwen2_5 --layers 8 --depth 8 --repeats 2
  section "agent step with the tensor-core flash attention (DESKPILOT_CUDA_FLASH=mma)"
  DESKPILOT_CUDA_FLASH=mma bench bench_cuda_prefill --layers 8 --depth 9 --repeats 2
  DESKPILOT_CUDA_FLASH=mma bench bench_cuda_prefill --model qwen2_5 --layers 8 --depth 8 --repeats 2
else
  decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --fused both
  decode --model qwen2_5 --prompt-tokens 2700 --decode-tokens 128 --fused both
  section "programmatic dependent launch of the decode step's kernels vs plain launches"
  decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --pdl both
  decode --model qwen2_5 --prompt-tokens 2700 --decode-tokens 128 --pdl both
  section "MoE prefill: grouped on the device vs on the host"
  bench bench_cuda_moe
  bench bench_cuda_moe --layout out_in
  bench bench_cuda_moe --tokens 16384
  decode --layers 48 --prompt-tokens 2700 --decode-tokens 16 --moe-grouping both
  section "batch-1 GEMMs: the engine's matrix-vector kernels vs cuBLAS"
  decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --gemv both
  decode --model qwen2_5 --prompt-tokens 2700 --decode-tokens 128 --gemv both
  section "KV cache: bf16 vs f32 at long context"
  decode --layers 48 --prompt-tokens 16384 --decode-tokens 128 --kv both
  section "decode steps as CUDA graphs vs eager (short context: launch gaps weigh most)"
  decode --layers 48 --prompt-tokens 256 --decode-tokens 128 --graphs both
  decode --model qwen2_5 --prompt-tokens 256 --decode-tokens 128 --graphs both
  decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --graphs both
  section "agent step on the GPU: vision tower + prefill + decode for a 1920x1080 screenshot"
  bench bench_cuda_prefill
  bench bench_cuda_prefill --model qwen2_5
  section "agent step with the tensor-core flash attention (DESKPILOT_CUDA_FLASH=mma)"
  DESKPILOT_CUDA_FLASH=mma bench bench_cuda_prefill
  DESKPILOT_CUDA_FLASH=mma bench bench_cuda_prefill --model qwen2_5
fi
((${#failures[@]} == 0)) || die "${#failures[@]} benchmark(s) failed: $(printf '%s; ' "${failures[@]}")"
section "done $(date -u)"
