# The GPU build, in one place: sourced by bench/gpu/make_bundle.sh (which builds and packs it)
# and by bench/gpu/run_h200.sh (which builds it from source when it has no bundle).
# A new gpu test or benchmark is one line in GPU_TARGETS (and, for a benchmark, its command in
# run_h200.sh). Targets named test_* are also the CTest names run_h200.sh runs.
# shellcheck shell=bash disable=SC2034  # the variables are read by the scripts that source this

# Relative to the repository root. The bundle's paths are this folder's, so it stays fixed.
GPU_BUILD_DIR=build-gpu
GPU_BUNDLE="$GPU_BUILD_DIR/device-bundle.tar.xz"
# The benchmarks alone (make_bundle.sh --bench): no Qt, ICU or OpenCV, a few MiB, so it still
# travels when the working tree (deskpilot-nano's checkpoint included) leaves no room for the
# whole bundle within the device tool's 64 MiB.
GPU_BENCH_BUNDLE="$GPU_BUILD_DIR/device-bench.tar.xz"
# deskpilot-nano's GPU test alone (make_bundle.sh --nano), small enough to travel beside the whole
# working tree with the committed checkpoint in it (the whole bundle does not: 37 + 48 MiB).
GPU_NANO_BUNDLE="$GPU_BUILD_DIR/device-nano.tar.xz"
GPU_NANO_TEST=test_engine_cuda_nano
# Release, Hopper machine code only (the H200 is sm_90; one architecture halves nvcc's time).
GPU_CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DDESKPILOT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real)
GPU_TARGETS=(
  deskpilot                     # test_engine_cuda_cli runs `deskpilot generate --device cuda`
  bench_cuda_decode             # decode/prefill at real Qwen3-VL and Qwen2.5-VL shapes
  bench_cuda_attention          # flash prefill attention vs the split-K kernel
  bench_cuda_prefill            # an agent step on the GPU: vision tower + prefill + decode, 1920x1080
  bench_cuda_moe                # one MoE layer's experts: device grouping vs host grouping + cuBLAS
  test_model_cuda               # device probe
  test_model_cuda_kernels       # every kernel against its CPU twin, the decoder against the CPU one
  test_engine_cuda_cli          # `generate --device cuda` against `--device cpu`
  test_engine_cuda_options      # --gpu, DESKPILOT_CUDA_MEM_LIMIT, the stop point on a real GPU
  test_engine_cuda_vlm          # image prompts, NativeVlm on both devices
  test_engine_cuda_nano         # deskpilot-nano's coordinate readout on the GPU against the CPU
  test_engine_cuda_vision       # the vision tower against the CPU one
  test_engine_cuda_qwen2_5      # Qwen2.5-VL decoder and tower against the CPU ones
  test_engine_cuda_long_prompts # long prompts on both devices
)

# The targets a bundle of KIND (all; bench: the bench_* ones; nano: GPU_NANO_TEST) holds, one
# per line.
gpu_targets_of() {
  local t
  for t in "${GPU_TARGETS[@]}"; do
    case $1 in
      all) echo "$t" ;;
      bench) [[ $t != bench_* ]] || echo "$t" ;;
      nano) [[ $t != "$GPU_NANO_TEST" ]] || echo "$t" ;;
    esac
  done
}

# The CTest names among GPU_TARGETS as one anchored regex: ^(test_a|test_b)$
gpu_test_regex() {
  local t names=()
  for t in "${GPU_TARGETS[@]}"; do [[ $t == test_* ]] && names+=("$t"); done
  local IFS='|'
  echo "^(${names[*]})\$"
}
