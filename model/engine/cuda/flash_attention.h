// Flash-style attention for prefill (flash_attention.cu): tiled over queries and keys with an
// online softmax, so no score matrix is ever stored. One kernel serves the text decoder's causal
// GQA prefill and the vision towers' bidirectional attention within segments. f32 in and out
// (the causal form also takes a bf16 KV cache), f32 accumulation; pointers are device pointers,
// `stream` a cudaStream_t (see kernels.h). Two kernels do it: FlashKernel below.
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {

// Which kernel the calls below run:
// - f32: CUDA cores, f32 throughout (the CPU twins' arithmetic; flash_attention.cu);
// - mma: tensor cores (flash_attention_mma.cu): Q, K, V and the softmax weights rounded to bf16,
//   f32 accumulation and softmax, as transformers' bf16 attention computes it.
enum class FlashKernel { f32, mma };

// DESKPILOT_CUDA_FLASH=f32|mma, f32 when unset or empty (mma turns default once an H200 run has
// passed its parity tests and measured it: bench_cuda_attention); another value throws CudaError
// naming the variable and the value.
FlashKernel flash_kernel_from_env();
// The process's choice: flash_kernel_from_env() at the first call, or the last set_flash_kernel
// (benchmarks compare both in one run). Thread-safe.
FlashKernel flash_kernel();
void set_flash_kernel(FlashKernel kernel);

// The head dims the kernels are compiled for: 16 (the tiny Qwen3-VL vision tower), 32 (the tiny
// text checkpoints), 64, 72 (Qwen3-VL vision), 80 (Qwen2.5-VL vision) and 128 (Qwen3 text). Any
// other value throws CudaError.
bool flash_attention_supports(std::int64_t head_dim);

// Causal GQA attention, the same arguments and layout as k::attention (kernels.h) without its
// split-K scratch: q [q_len, heads, d] at absolute positions past..past+q_len-1, caches
// [kv_heads, cap, d] already holding past+q_len keys/values, out [q_len, heads, d]. heads must be
// a multiple of kv_heads. Twin: cpu::attention.
void flash_attention_causal(const float* q, std::int64_t q_len, std::int64_t past,
                            std::int64_t heads, std::int64_t kv_heads, std::int64_t d,
                            const float* k_cache, const float* v_cache, std::int64_t cap,
                            float scale, float* out, void* stream);
// The same over a bf16 KV cache (raw bits): K/V widened to f32 as their tiles load, all
// arithmetic f32. Twin: cpu::attention on the bf16-rounded K/V.
void flash_attention_causal(const float* q, std::int64_t q_len, std::int64_t past,
                            std::int64_t heads, std::int64_t kv_heads, std::int64_t d,
                            const std::uint16_t* k_cache, const std::uint16_t* v_cache,
                            std::int64_t cap, float scale, float* out, void* stream);

// Bidirectional attention within segments on the vision towers' qkv rows (3, heads, hd) of S
// patches, q and k already rotated (k::rope2d): for each segment [seg[i], seg[i+1]) its queries
// attend to its keys, scale hd^-½. `segments` is a device array of n_segments+1 non-decreasing
// int32 boundaries (cu_seqlens: the full image for Qwen3-VL, the windows for Qwen2.5-VL); rows
// outside every segment are left untouched. out: [S, heads·hd]. Twin:
// vblocks::segment_attention_reference with identity rotary tables (cos 1, sin 0).
void flash_attention_segments(const float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                              const std::int32_t* segments, std::int64_t n_segments, float* out,
                              void* stream);

}  // namespace deskpilot::model::cuda::k
