#!/usr/bin/env bash
# One-shot GPU check and benchmark for a machine with an NVIDIA GPU (written for an H200; any
# sm_80/sm_90 GPU works). Builds only the CUDA-related targets in Release, runs the gpu-labelled
# parity tests and the CUDA CLI test, then the real-shape decode/prefill benchmark.
#   bench/gpu/run_h200.sh [--quick]        (--quick: 8 layers, shorter prompt; ~1 minute)
# Output goes to stdout and to $OUT/gpu_results.txt (or bench/gpu/last_run.txt without $OUT).
# Copy the figures into bench/RESULTS.md with the date and the device.
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
LOG="${OUT:-bench/gpu}/$([[ -n "${OUT:-}" ]] && echo gpu_results.txt || echo last_run.txt)"
exec > >(tee "$LOG") 2>&1
echo "== $(date -u) on $(hostname)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
JOBS=$(nproc)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DDESKPILOT_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90-real >/dev/null
cmake --build build-gpu -j"$JOBS" --target bench_cuda_decode bench_cuda_attention bench_cuda_prefill test_model_cuda \
  test_model_cuda_kernels test_engine_cuda_cli test_engine_cuda_vlm test_engine_cuda_vision \
  test_engine_cuda_qwen2_5 deskpilot
echo "== parity tests (kernels vs CPU twins, decoder and vision tower vs the CPU ones, CLI)"
ctest --test-dir build-gpu -R 'test_model_cuda|test_engine_cuda_cli|test_engine_cuda_vlm|test_engine_cuda_vision|test_engine_cuda_qwen2_5|test_engine_cuda_long_prompts' --output-on-failure || true
echo "== prefill attention (flash vs the split-K kernel; vision segments)"
build-gpu/bench/bench_cuda_attention || true
echo "== benchmark"
if [[ $QUICK == 1 ]]; then
  build-gpu/bench/bench_cuda_decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --fused both
  build-gpu/bench/bench_cuda_decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --fused both
  echo "== KV cache: bf16 vs f32 at long context"
  build-gpu/bench/bench_cuda_decode --layers 8 --prompt-tokens 8192 --decode-tokens 64 --kv both
  echo "== decode steps as CUDA graphs vs eager"
  build-gpu/bench/bench_cuda_decode --layers 8 --prompt-tokens 1024 --decode-tokens 64 --graphs both
  build-gpu/bench/bench_cuda_decode --model qwen2_5 --layers 8 --prompt-tokens 1024 --decode-tokens 64 --graphs both
  echo "== agent step on the GPU: vision tower + prefill + decode for a 1920x1080 screenshot"
  build-gpu/bench/bench_cuda_prefill --layers 8 --depth 9 --repeats 2
  build-gpu/bench/bench_cuda_prefill --model qwen2_5 --layers 8 --depth 8 --repeats 2
else
  build-gpu/bench/bench_cuda_decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --fused both
  build-gpu/bench/bench_cuda_decode --model qwen2_5 --prompt-tokens 2700 --decode-tokens 128 --fused both
  echo "== KV cache: bf16 vs f32 at long context"
  build-gpu/bench/bench_cuda_decode --layers 48 --prompt-tokens 16384 --decode-tokens 128 --kv both
  echo "== decode steps as CUDA graphs vs eager (short context: launch gaps weigh most)"
  build-gpu/bench/bench_cuda_decode --layers 48 --prompt-tokens 256 --decode-tokens 128 --graphs both
  build-gpu/bench/bench_cuda_decode --model qwen2_5 --prompt-tokens 256 --decode-tokens 128 --graphs both
  build-gpu/bench/bench_cuda_decode --layers 48 --prompt-tokens 2700 --decode-tokens 128 --graphs both
  echo "== agent step on the GPU: vision tower + prefill + decode for a 1920x1080 screenshot"
  build-gpu/bench/bench_cuda_prefill
  build-gpu/bench/bench_cuda_prefill --model qwen2_5
fi
echo "== done $(date -u)"
