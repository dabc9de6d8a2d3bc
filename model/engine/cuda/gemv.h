// Matrix-vector products on bf16 weights for batch-1 decode (model/engine/cuda/gemv.cu).
// A decode step's GEMMs have one row (M = 1): they read every weight once and do two flops per
// weight, so their speed is the weight bytes over the memory bandwidth. cuBLAS at M = 1, and its
// batched GEMM over an MoE layer's chosen experts, reached a fraction of that on the H200
// (bench/RESULTS.md, 2026-12-04); these kernels read the weights with 16-byte loads and enough
// of them in flight to fill the memory system.
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {

// For each slot s < slots: y_s = x_s · W_e (accumulate: y_s += x_s · W_e), where
//   x_s = x + s · x_stride            (bf16 [K]),
//   W_e = w + e · w_stride, e = expert[s] (s where `expert` is null; read on the device, so a
//         captured step follows the routing without the host),
//         out_in: row-major [N, K] with leading dimension ldw (nn.Linear's weight);
//         otherwise [K, N] with leading dimension ldw (the Hub's fused-expert layout),
//   y_s = y + s · y_stride            (f32 [N]).
// f32 accumulation. Twin: engine::cpu::linear per slot, on the same bf16 inputs.
void gemv_bf16(const std::uint16_t* x, std::int64_t x_stride, std::int64_t K,
               const std::uint16_t* w, std::int64_t w_stride, const std::int32_t* expert,
               bool out_in, std::int64_t N, std::int64_t ldw, float* y, std::int64_t y_stride,
               int slots, bool accumulate, void* stream);

// One out_in matrix of gemv_bf16_stacked: row-major [N, K] with leading dimension ldw, into y [N].
struct GemvPart {
    const std::uint16_t* w;
    std::int64_t N, ldw;
    float* y;
};
constexpr int kMaxGemvParts = 3;

// y_p = x · W_p for up to kMaxGemvParts out_in matrices that read the same bf16 row x [K], in one
// launch: a decode step's q, k and v projections (the k and v ones are too small to fill the GPU
// alone: about 5 us each on the H200, mostly launch and latency). Twin: gemv_bf16 per part.
void gemv_bf16_stacked(const std::uint16_t* x, std::int64_t K, const GemvPart* parts, int count,
                       void* stream);

}  // namespace deskpilot::model::cuda::k
