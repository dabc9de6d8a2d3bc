// An MoE layer's prefill on the device (model/engine/cuda/moe_grouped.cu): the (token, choice)
// pairs grouped by expert, then each projection over all experts in one launch, with no host
// round trip. The host grouping it replaces downloaded the routing, synchronised the stream and
// made two cuBLAS calls per expert chosen (256 a layer for Qwen3-VL-30B-A3B's 128 experts).
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {

// Rows per tile of the grouped products: each expert's rows start a new tile.
constexpr int kMoeTileRows = 64;
// The most experts moe_group takes (its single-block count and scan).
constexpr int kMoeMaxExperts = 512;

// Groups the `pairs` (token, choice) pairs of `index` (expert ids [pairs], pair p = token p / k's
// choice p % k) by expert, stable (within an expert, the pairs' order), on the device:
//   offsets [E + 1]: expert e's rows of the grouped order are [offsets[e], offsets[e + 1]);
//   tiles [E + 1]: its kMoeTileRows-row tiles are [tiles[e], tiles[e + 1]) of the products' grids;
//   src [pairs]: the token of grouped row r;  row_of [pairs]: the grouped row of pair p.
// Two launches. CudaError for E outside 1..kMoeMaxExperts. Twin: cuda::group_by_expert
// (moe_grouping.h), the same integers.
void moe_group(const std::int32_t* index, std::int64_t pairs, int k, int E, std::int32_t* offsets,
               std::int32_t* tiles, std::int32_t* src, std::int32_t* row_of, void* stream);

// The most row tiles a grouping of `rows` rows over E experts can have: the products' grid size
// (the tiles past tiles[E] leave at once).
std::int64_t moe_max_tiles(std::int64_t rows, int E);

// Whether moe_gemm_bf16 and moe_gate_up_swiglu_bf16 take these sizes: K, N (F) and the leading
// dimension multiples of 8 (16-byte loads), and E within moe_group's bound.
bool moe_grouped_supports(std::int64_t K, std::int64_t N, std::int64_t ldw, int E);

// The grouping's weights: expert e's matrix is w + e · w_stride, out_in ([N, K], leading dimension
// ldw: nn.Linear's) or in_out ([K, N], leading dimension ldw: the Hub's fused experts).
struct MoeWeights {
    const std::uint16_t* w;
    std::int64_t w_stride;
    bool out_in;
    std::int64_t ldw;
};
// The grouping moe_group wrote (device arrays) and the grids' height (moe_max_tiles).
struct MoeGroups {
    const std::int32_t* offsets;
    const std::int32_t* tiles;
    int E;
    std::int64_t max_tiles;
};

// y [rows, N] = x_r · W_e for every grouped row r of expert e, where x_r = x + (src ? src[r] : r)
// · K (bf16 [K]): one launch for all experts, bf16 tensor-core products with f32 accumulation.
// Experts no pair chose are never read. CudaError where moe_grouped_supports is false. Twin: one
// engine::cpu::linear per expert on the same bf16 inputs (f32 sums in another order).
void moe_gemm_bf16(const std::uint16_t* x, const std::int32_t* src, std::int64_t K,
                   const MoeWeights& w, std::int64_t N, const MoeGroups& g, float* y, void* stream);

// The gate/up product with SwiGLU as its epilogue: W_e holds 2F outputs, [gate | up], and
// act [rows, F] = bf16(silu(x_r · gate_j) · (x_r · up_j)), with x_r as moe_gemm_bf16's. Twin:
// moe_gemm_bf16 with N = 2F, then silu_mul_bf16 (the same bits).
void moe_gate_up_swiglu_bf16(const std::uint16_t* x, const std::int32_t* src, std::int64_t K,
                             const MoeWeights& w, std::int64_t F, const MoeGroups& g,
                             std::uint16_t* act, void* stream);

}  // namespace deskpilot::model::cuda::k
