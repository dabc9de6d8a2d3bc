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

// gemv_bf16 (in_out weights) whose input is SwiGLU's activation, computed as it is read: for slot
// s, x_s[j] = bf16(silu(gu_s[j]) · gu_s[F + j]) with gu_s = gu + s · gu_stride (f32 [gate | up],
// 2F values) and K = F. The MoE decode step's down projection without silu_mul_bf16's launch.
// Only in_out: an out_in kernel would compute each activation once per output row. Twin:
// silu_mul_bf16, then gemv_bf16 (the same bits).
void gemv_silu_bf16(const float* gu, std::int64_t gu_stride, std::int64_t F, const std::uint16_t* w,
                    std::int64_t w_stride, const std::int32_t* expert, std::int64_t N,
                    std::int64_t ldw, float* y, std::int64_t y_stride, int slots, bool accumulate,
                    void* stream);

// The outputs one in_out block computes (gemv_silu_combine_bf16's counters are per tile).
constexpr int kGemvTileCols = 32;

// gemv_silu_bf16 over one token's slots (its chosen experts), combined into the residual in the
// same launch: x[n] += Σ_s weight[s] · y_s[n] in slot order, y_s (written to y, [slots, N]) being
// slot s's product. The last of a column tile's `slots` blocks to finish adds them: `tile_done`
// holds one unsigned per kGemvTileCols outputs, zero before the launch, and is left zero (so a
// model keeps one zeroed array for all its layers and steps). Twin: gemv_silu_bf16, then
// moe_combine (the same bits in y and x).
void gemv_silu_combine_bf16(const float* gu, std::int64_t gu_stride, std::int64_t F,
                            const std::uint16_t* w, std::int64_t w_stride,
                            const std::int32_t* expert, std::int64_t N, std::int64_t ldw, float* y,
                            int slots, const float* weight, float* x, unsigned* tile_done,
                            void* stream);

// The MoE router of a decode step, which routes in the same launch: logits [E] = x · Wᵀ (out_in
// [E, K], leading dimension ldw), then the last block to finish chooses the token's k experts as
// route_top_k does (index, weight [k]; renormalised when `normalise`). `done` is one unsigned,
// zero before the launch and left zero. E at most kGemvRouteMaxExperts and 1 <= k <= E, else
// CudaError. Twin: gemv_bf16, then route_top_k (the same bits).
constexpr int kGemvRouteMaxExperts = 1024;
void gemv_route_bf16(const std::uint16_t* x, std::int64_t K, const std::uint16_t* w, std::int64_t E,
                     std::int64_t ldw, float* logits, int k, bool normalise, std::int32_t* index,
                     float* weight, unsigned* done, void* stream);

// The RMSNorm a GEMV can compute as its prologue, instead of a launch of its own before it (a
// decode step's input norm before q/k/v, the post-attention norm before the router or the dense
// gate/up): the GEMV's bf16 input row is bf16(w ⊙ x · inv_rms(x)) of the f32 residual x [K], the
// bits rms_norm_bf16 writes (the same summation order). Every block computes the row into its
// shared memory (reading x twice and w once, from L2), so K is at most kGemvNormMaxK, else
// CudaError. Where `out` is not null, block 0 also writes the row there, for a later launch that
// reads the same input (the MoE experts' gate/up after the router).
struct GemvNorm {
    const float* x;
    const float* w;
    float eps;
    std::uint16_t* out = nullptr;
};
constexpr std::int64_t kGemvNormMaxK = 8192;

// The dense decode step's MLP input in one launch: act [F] = bf16(silu(g) · u), g = norm(x) · W[j]
// and u = norm(x) · W[F + j] for the out_in [gate | up] matrix W [2F, K] (leading dimension ldw).
// Twin: rms_norm_bf16, gemv_bf16 (2F rows), then silu_mul_bf16 (the same bits).
void gemv_norm_swiglu_bf16(const GemvNorm& norm, std::int64_t K, const std::uint16_t* w,
                           std::int64_t F, std::int64_t ldw, std::uint16_t* act, void* stream);

// gemv_route_bf16 whose input is norm's row (twin: rms_norm_bf16, then gemv_route_bf16). The MoE
// decode step's router; norm.out receives the row for the experts' gate/up.
void gemv_route_bf16(const GemvNorm& norm, std::int64_t K, const std::uint16_t* w, std::int64_t E,
                     std::int64_t ldw, float* logits, int k, bool normalise, std::int32_t* index,
                     float* weight, unsigned* done, void* stream);

// One out_in matrix of gemv_bf16_stacked: row-major [N, K] with leading dimension ldw, into y [N],
// plus bias [N] where not null (Qwen2's q/k/v biases: the bits of add_bias_qkv after the product).
struct GemvPart {
    const std::uint16_t* w;
    std::int64_t N, ldw;
    float* y;
    const float* bias = nullptr;
};
constexpr int kMaxGemvParts = 3;

// y_p = x · W_p for up to kMaxGemvParts out_in matrices that read the same bf16 row x [K], in one
// launch: a decode step's q, k and v projections (the k and v ones are too small to fill the GPU
// alone: about 5 us each on the H200, mostly launch and latency). Twin: gemv_bf16 per part.
void gemv_bf16_stacked(const std::uint16_t* x, std::int64_t K, const GemvPart* parts, int count,
                       void* stream);
// gemv_bf16_stacked whose input is norm's row: a decode step's input norm and its q, k and v in
// one launch (twin: rms_norm_bf16, then gemv_bf16_stacked).
void gemv_bf16_stacked(const GemvNorm& norm, std::int64_t K, const GemvPart* parts, int count,
                       void* stream);

}  // namespace deskpilot::model::cuda::k
