// What the two flash attention kernels share (flash_attention.cu: f32 on CUDA cores;
// flash_attention_mma.cu: bf16 tensor cores): the launch arguments and which keys a query row
// sees, the head dims they are compiled for (a K/V element is read with launch_util.cuh's
// kv_load). Internal to those two
// files; include it after <cuda_runtime.h>.
#pragma once

#include <cstdint>
#include <type_traits>

#include "model/engine/cuda/launch_util.cuh"

namespace deskpilot::model::cuda::k {

namespace detail {

// Both uses in one layout: query row i of head h at q[i·q_row + h·D], key/value row t of KV
// head g at k[g·kv_head + t·kv_row] (v likewise), output row i of head h at out[i·o_row + h·D].
// Row i sees keys [lo, hi): causal (seg null) lo 0, hi past+i+1; else the segment holding i.
// k and v point at f32 or bf16 elements (the kernels' T).
struct FlashArgs {
    const float* q;
    const void* k;
    const void* v;
    float* out;
    std::int64_t rows, group;  // query rows; query heads per KV head
    std::int64_t q_row, kv_row, kv_head, o_row;
    float scale_log2;  // softmax scale · log2(e)
    std::int64_t past;
    const std::int32_t* seg;
    std::int64_t n_seg;
};

// The tensor-core kernel over `heads` query heads of head dim d (a flash_attention_supports
// value), K/V elements bf16 (`bf16_kv`) or f32: flash_attention_mma.cu. The caller has checked
// the shapes.
void flash_mma(const FlashArgs& a, std::int64_t heads, std::int64_t d, bool bf16_kv, void* stream);

}  // namespace detail

namespace {

__device__ inline void key_range(const detail::FlashArgs& a, std::int64_t i, std::int64_t& lo,
                                 std::int64_t& hi) {
    lo = hi = 0;
    if (i >= a.rows) return;
    if (a.seg == nullptr) {
        hi = a.past + i + 1;
        return;
    }
    if (a.n_seg <= 0 || a.seg[0] > i) return;
    std::int64_t b = 0, e = a.n_seg;  // the last boundary <= i lies in [b, e]; seg[b] <= i
    while (b < e) {
        const std::int64_t mid = (b + e + 1) / 2;
        if (a.seg[mid] <= i)
            b = mid;
        else
            e = mid - 1;
    }
    if (b < a.n_seg) {  // then seg[b] <= i < seg[b + 1]
        lo = a.seg[b];
        hi = a.seg[b + 1];
    }
}

// f(std::integral_constant<int, D>()) for head dim D = d, one of the dims the kernels are compiled
// for (flash_attention_supports); false, calling nothing, for another.
template <typename F>
bool with_head_dim(std::int64_t d, F&& f) {
    switch (d) {
        case 16:
            f(std::integral_constant<int, 16>());
            return true;
        case 32:
            f(std::integral_constant<int, 32>());
            return true;
        case 64:
            f(std::integral_constant<int, 64>());
            return true;
        case 72:
            f(std::integral_constant<int, 72>());
            return true;
        case 80:
            f(std::integral_constant<int, 80>());
            return true;
        case 128:
            f(std::integral_constant<int, 128>());
            return true;
        default:
            return false;
    }
}

// The keys a block of `rows` query rows reads: the union [klo, khi) of the rows' ranges lo[r],
// hi[r] (rows outside every segment have none; no row with keys: klo = khi = 0).
__device__ inline void block_keys(const std::int64_t* lo, const std::int64_t* hi, int rows,
                                  std::int64_t& klo, std::int64_t& khi) {
    klo = khi = 0;
    bool any = false;
    for (int r = 0; r < rows; ++r)
        if (lo[r] < hi[r]) {
            klo = any ? min(klo, lo[r]) : lo[r];
            khi = any ? max(khi, hi[r]) : hi[r];
            any = true;
        }
}

}  // namespace

}  // namespace deskpilot::model::cuda::k
