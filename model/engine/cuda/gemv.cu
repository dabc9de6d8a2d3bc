// Batch-1 matrix-vector products on bf16 weights (gemv.h). Two kernels, one per weight layout:
// - out_in ([N, K], each output's weights contiguous): one warp per output, its lanes reading the
//   row 16 bytes at a time and summing with shuffles;
// - in_out ([K, N], each input's weights contiguous): a block per 32 outputs, 4 threads across
//   them (8 outputs each, one 16-byte load per input row) and 64 groups of rows down K, whose
//   partial sums meet in shared memory. (64 outputs a block gave an MoE layer's 8 experts 192
//   and 256 blocks, too few to keep the H200's memory busy: 2.2-2.3 TB/s.)
// Both take the expert of each slot from the device (the MoE decode step) and fall back to
// element loads where a shape or pointer is not a multiple of 8 elements (the tiny checkpoints).
// gemv_bf16_stacked is the out_in kernel over several matrices' rows in one launch (with biases
// as its epilogue). The MoE decode step's forms fold neighbouring launches in: the in_out kernel
// can compute its input, SwiGLU's activation, from the gate/up rows (gemv_silu_bf16) and add the
// slots into the residual in the last block of each column tile (gemv_silu_combine_bf16); the
// out_in kernel can route in its last block (gemv_route_bf16). "Last block" is counted with an
// atomic on a zeroed counter the last block sets back to zero, after a __threadfence in every
// block, and the other blocks' results are read with __ldcg (past the SM's L1). The out_in forms
// can also normalise their own input (the norm prologue, GemvNorm): each block computes the bf16
// row into shared memory before its warps read it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemv.h"
#include "model/engine/cuda/launch_util.cuh"
#include "model/engine/cuda/norm_util.cuh"
#include "model/engine/cuda/route_util.cuh"

namespace deskpilot::model::cuda::k {

namespace {

// The norm prologue's arguments (GemvNorm, with the summation order of rms_norm_k's block for K).
struct NormArgs {
    const float* x;
    const float* w;
    float eps;
    int order;
    std::uint16_t* out;
};

// Eight bf16 values in one 16-byte load.
#ifdef __CUDACC__
using Vec8 = uint4;
#else
struct alignas(16) Vec8 {
    unsigned x, y, z, w;
};
#endif

struct GemvArgs {
    const std::uint16_t* x;
    std::int64_t x_stride, K;
    const std::uint16_t* w;
    std::int64_t w_stride;
    const std::int32_t* expert;
    std::int64_t N, ldw;
    float* y;
    std::int64_t y_stride;
    bool accumulate, vec;
    // gemv_silu_bf16: x is null and slot s's input is SwiGLU's activation of gu + s·gu_stride.
    const float* gu;
    std::int64_t gu_stride;
    // gemv_silu_combine_bf16: the residual the slots' products are added to (null: none), the
    // slots' weights and the column tiles' finished-block counters.
    float* combine_x;
    const float* combine_weight;
    unsigned* tile_done;
    // gemv_route_bf16: the router's choice, made by the last block (tile_done[0] counts).
    int route_k;
    bool route_norm;
    std::int32_t* route_index;
    float* route_weight;
    // The norm prologue (kNorm forms): x is null and the input is norm's row.
    NormArgs norm;
    // gemv_norm_swiglu_bf16: the SwiGLU activation's bf16 output [N].
    std::uint16_t* act;
};

__device__ __forceinline__ float bf16_lo(unsigned u) {
    return __uint_as_float(u << 16);
}
__device__ __forceinline__ float bf16_hi(unsigned u) {
    return __uint_as_float(u & 0xffff0000u);
}
__device__ __forceinline__ float bf16_at(const std::uint16_t* p) {
    return __uint_as_float(unsigned(*p) << 16);
}
__device__ __forceinline__ Vec8 load8(const std::uint16_t* p) {
    return *reinterpret_cast<const Vec8*>(p);
}
__device__ __forceinline__ float dot8(Vec8 a, Vec8 b) {
    return bf16_lo(a.x) * bf16_lo(b.x) + bf16_hi(a.x) * bf16_hi(b.x) + bf16_lo(a.y) * bf16_lo(b.y) +
           bf16_hi(a.y) * bf16_hi(b.y) + bf16_lo(a.z) * bf16_lo(b.z) + bf16_hi(a.z) * bf16_hi(b.z) +
           bf16_lo(a.w) * bf16_lo(b.w) + bf16_hi(a.w) * bf16_hi(b.w);
}
__device__ __forceinline__ void store(const GemvArgs& a, int slot, std::int64_t n, float v) {
    float* y = a.y + slot * a.y_stride + n;
    *y = a.accumulate ? *y + v : v;
}

constexpr int kWarpsPerBlock = 8;  // out_in: outputs per block
// The norm prologue's forms run at most this many blocks, their warps taking several rows each:
// every block reads the residual and the norm's weights (8 bytes per input) before its rows, and a
// block per 8 rows of the dense gate/up (4 736 at UI-TARS-1.5-7B's shapes) would read 130 MB of
// them from L2 for 270 MB of weights. 512 blocks of 8 warps still keep 8 MB of weight loads in
// flight.
constexpr unsigned kNormMaxBlocks = 512;
// in_out: a block's 32 outputs, 4 threads across them, 64 row groups down K.
constexpr int kColThreads = 4, kRowGroups = 64, kTileCols = kColThreads * 8;
static_assert(kTileCols == kGemvTileCols, "gemv.h's tile width is the in_out kernel's");
static_assert(kRouteMaxExperts == kGemvRouteMaxExperts, "gemv.h's bound is route_warp's");

// The norm prologue, by the whole block: the bf16 input row bf16(w ⊙ x · inv_rms(x)) [K] into xs
// (shared), the bits rms_norm_bf16 writes; block (0, 0) also writes it to norm.out where that is
// not null.
__device__ __forceinline__ void norm_prologue(const NormArgs& nm, std::int64_t K,
                                              std::uint16_t* xs) {
    const float inv = inv_rms_ordered(nm.x, K, nm.eps, nm.order);
    const bool out = nm.out && blockIdx.x == 0 && blockIdx.y == 0;
    for (std::int64_t i = threadIdx.x; i < K; i += blockDim.x) {
        const std::uint16_t v = f2bf16(norm_value(nm.x[i], nm.w[i], inv));
        xs[i] = v;
        if (out) nm.out[i] = v;
    }
    __syncthreads();
}

// Before pdl_wait (launch_util.cuh): the warp asks L2 for the first 4 KB of its weight row w (one
// 128-byte line a lane), which no kernel writes, so the row's loads start warm when the kernel
// before this one ends.
__device__ __forceinline__ void prefetch_row(const std::uint16_t* w, std::int64_t K, int lane) {
    if (std::int64_t(lane) * 64 < K) prefetch_l2(w + std::int64_t(lane) * 64);
}

// One warp's dot product of a weight row w and the input x (K bf16 values each), every lane
// getting the sum: 16-byte loads where `vec`, else element loads.
__device__ __forceinline__ float row_dot(const std::uint16_t* w, const std::uint16_t* x,
                                         std::int64_t K, int lane, bool vec) {
    float acc = 0.0f;
    if (vec) {
#pragma unroll 4
        for (std::int64_t k = lane * 8; k < K; k += 32 * 8) acc += dot8(load8(w + k), load8(x + k));
    } else {
        for (std::int64_t k = lane; k < K; k += 32) acc += bf16_at(w + k) * bf16_at(x + k);
    }
    return warp_sum(acc);
}

// A warp per output row, the rows strided by the grid's warps (one pass unless the grid was
// capped: kNormMaxBlocks). kRoute (gemv_route_bf16, one slot): the last block to finish routes on
// the N logits. kNorm (one slot): the input is the norm prologue's row. kSwiglu
// (gemv_norm_swiglu_bf16): W holds [gate | up] rows, and warp row n computes rows n and N + n and
// writes bf16(silu(gate) · up) to a.act.
template <bool kRoute, bool kNorm, bool kSwiglu = false>
__global__ void gemv_out_in_k(GemvArgs a) {
    const int slot = int(blockIdx.y), lane = int(threadIdx.x % 32);
    const std::int64_t first = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    // Launched with PDL (pdl.h): the weights' first lines while the kernel before runs (an
    // expert's weights are known only from the routing, after the wait).
    if (!a.expert && first < a.N) prefetch_row(a.w + slot * a.w_stride + first * a.ldw, a.K, lane);
    pdl_trigger();
    pdl_wait();
    const std::uint16_t* x = kNorm ? nullptr : a.x + slot * a.x_stride;
    if constexpr (kNorm) {
        __shared__ Vec8 xs[kGemvNormMaxK / 8];  // 16-byte aligned, for row_dot's loads
        x = reinterpret_cast<std::uint16_t*>(xs);
        norm_prologue(a.norm, a.K, reinterpret_cast<std::uint16_t*>(xs));
    }
    auto row = [&](std::int64_t n) {  // the whole warp: n is the warp's
        const std::int64_t e = a.expert ? a.expert[slot] : slot;
        const std::uint16_t* we = a.w + e * a.w_stride;
        const float acc = row_dot(we + n * a.ldw, x, a.K, lane, a.vec);
        if constexpr (kSwiglu) {
            const float up = row_dot(we + (a.N + n) * a.ldw, x, a.K, lane, a.vec);
            if (lane == 0) a.act[n] = f2bf16(silu_mul_value(acc, up));  // silu_mul_bf16's bits
        } else if (lane == 0) {
            store(a, slot, n, acc);
        }
    };
    if constexpr (kNorm) {  // a capped grid: the warps stride over the rows
        for (std::int64_t n = first; n < a.N; n += std::int64_t(gridDim.x) * kWarpsPerBlock) row(n);
    } else if (first < a.N) {
        row(first);
    }
    if constexpr (kRoute) {
        __shared__ bool last;
        __shared__ float p[kRouteMaxExperts];
        __threadfence();  // this block's logits visible before the count says they are there
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(a.tile_done, 1u) == gridDim.x - 1;
        __syncthreads();
        if (!last) return;
        if (threadIdx.x < 32)
            route_warp(a.y, a.N, a.route_k, a.route_norm, a.route_index, a.route_weight, p, lane);
        if (threadIdx.x == 0) *a.tile_done = 0u;  // ready for the next launch
    }
}

// gemv_bf16_stacked: the parts' rows one after another; each warp finds its part.
struct StackedArgs {
    const std::uint16_t* x;
    std::int64_t K;
    GemvPart part[kMaxGemvParts];
    int count;
    bool vec;
    NormArgs norm;  // kNorm: x is null and the input is norm's row
};

template <bool kNorm>
__global__ void gemv_stacked_k(StackedArgs a) {
    const int lane = int(threadIdx.x % 32);
    const std::int64_t first = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    {  // launched with PDL (pdl.h): the first row's first lines while the kernel before runs
        std::int64_t n = first;
        int p = 0;
        while (p < a.count && n >= a.part[p].N) n -= a.part[p++].N;
        if (p < a.count) prefetch_row(a.part[p].w + n * a.part[p].ldw, a.K, lane);
    }
    pdl_trigger();
    pdl_wait();
    const std::uint16_t* x = a.x;
    if constexpr (kNorm) {
        __shared__ Vec8 xs[kGemvNormMaxK / 8];  // 16-byte aligned, for row_dot's loads
        x = reinterpret_cast<std::uint16_t*>(xs);
        norm_prologue(a.norm, a.K, reinterpret_cast<std::uint16_t*>(xs));
    }
    auto row = [&](std::int64_t n) {  // the whole warp: n is the warp's; false past the last
        int p = 0;
        while (p < a.count && n >= a.part[p].N) n -= a.part[p++].N;
        if (p == a.count) return false;
        const float acc = row_dot(a.part[p].w + n * a.part[p].ldw, x, a.K, lane, a.vec);
        if (lane == 0) a.part[p].y[n] = a.part[p].bias ? acc + a.part[p].bias[n] : acc;
        return true;
    };
    if constexpr (kNorm) {  // a capped grid: the warps stride over the rows
        for (std::int64_t n = first; row(n); n += std::int64_t(gridDim.x) * kWarpsPerBlock) {
        }
    } else {
        row(first);
    }
}

// Input k of a slot: its bf16 x, or (kSilu) bf16(silu(gate_k) · up_k) from its [gate | up] row,
// the bits silu_mul_bf16 writes.
template <bool kSilu>
__device__ __forceinline__ float input_at(const GemvArgs& a, int slot, std::int64_t k) {
    if constexpr (kSilu) {
        const float* gu = a.gu + slot * a.gu_stride;
        return bf16f(f2bf16(silu_mul_value(gu[k], gu[a.K + k])));
    } else {
        return bf16_at(a.x + slot * a.x_stride + k);
    }
}

template <bool kSilu>
__global__ void gemv_in_out_k(GemvArgs a) {
    pdl_trigger();  // launched with PDL (pdl.h); the experts are known only after the wait
    pdl_wait();
    __shared__ float part[kRowGroups][kTileCols + 1];
    const int slot = int(blockIdx.y), cg = int(threadIdx.x % kColThreads),
              rg = int(threadIdx.x / kColThreads);
    const std::int64_t n0 = std::int64_t(blockIdx.x) * kTileCols + cg * 8;
    const std::int64_t e = a.expert ? a.expert[slot] : slot;
    const std::uint16_t* w = a.w + e * a.w_stride + n0;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (a.vec) {
        if (n0 < a.N) {
#pragma unroll 4
            for (std::int64_t k = rg; k < a.K; k += kRowGroups) {
                const float xk = input_at<kSilu>(a, slot, k);
                const Vec8 v = load8(w + k * a.ldw);
                acc[0] += xk * bf16_lo(v.x);
                acc[1] += xk * bf16_hi(v.x);
                acc[2] += xk * bf16_lo(v.y);
                acc[3] += xk * bf16_hi(v.y);
                acc[4] += xk * bf16_lo(v.z);
                acc[5] += xk * bf16_hi(v.z);
                acc[6] += xk * bf16_lo(v.w);
                acc[7] += xk * bf16_hi(v.w);
            }
        }
    } else {
        for (std::int64_t k = rg; k < a.K; k += kRowGroups) {
            const float xk = input_at<kSilu>(a, slot, k);
            for (int i = 0; i < 8; ++i)
                if (n0 + i < a.N) acc[i] += xk * bf16_at(w + k * a.ldw + i);
        }
    }
    for (int i = 0; i < 8; ++i) part[rg][cg * 8 + i] = acc[i];
    __syncthreads();
    const std::int64_t n = std::int64_t(blockIdx.x) * kTileCols + threadIdx.x;
    if (threadIdx.x < kTileCols && n < a.N) {
        float sum = 0.0f;
        for (int r = 0; r < kRowGroups; ++r) sum += part[r][threadIdx.x];
        store(a, slot, n, sum);
    }
    if (!kSilu || !a.combine_x) return;  // only gemv_silu_combine_bf16 combines
    // The last of the tile's slot blocks to finish adds the slots' outputs into the residual, in
    // slot order (moe_combine's sum). The fence makes this block's outputs visible to that block
    // before the count says they are there; __ldcg reads them past this SM's L1.
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&a.tile_done[blockIdx.x], 1u) == unsigned(gridDim.y) - 1;
    __syncthreads();
    if (!last) return;
    if (threadIdx.x < kTileCols && n < a.N) {
        float o = 0.0f;
        for (int j = 0; j < int(gridDim.y); ++j)
            o += a.combine_weight[j] * __ldcg(a.y + j * a.y_stride + n);
        a.combine_x[n] += o;
    }
    if (threadIdx.x == 0) a.tile_done[blockIdx.x] = 0u;  // ready for the next launch
}

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

}  // namespace

void gemv_bf16(const std::uint16_t* x, std::int64_t x_stride, std::int64_t K,
               const std::uint16_t* w, std::int64_t w_stride, const std::int32_t* expert,
               bool out_in, std::int64_t N, std::int64_t ldw, float* y, std::int64_t y_stride,
               int slots, bool accumulate, void* s) {
    if (N == 0 || slots == 0) return;
    // 16-byte loads need every row and slot to start on a 16-byte boundary: multiples of 8
    // elements from aligned bases (in_out also reads 8 outputs at once, so N too).
    const bool vec = aligned16(w) && aligned16(x) && ldw % 8 == 0 && w_stride % 8 == 0 &&
                     x_stride % 8 == 0 && (out_in ? K % 8 == 0 : N % 8 == 0);
    GemvArgs a{x, x_stride, K, w, w_stride, expert, N, ldw, y, y_stride, accumulate, vec};
    if (out_in) {
        const dim3 grid(blocks(N, kWarpsPerBlock), unsigned(slots));
        launch_pdl(&gemv_out_in_k<false, false>, grid, 32 * kWarpsPerBlock, s, a);
        check_launch("gemv_bf16 (out_in)");
    } else {
        const dim3 grid(blocks(N, kTileCols), unsigned(slots));
        launch_pdl(&gemv_in_out_k<false>, grid, kColThreads * kRowGroups, s, a);
        check_launch("gemv_bf16 (in_out)");
    }
}

namespace {

// The SwiGLU-input in_out launch of gemv_silu_bf16 and gemv_silu_combine_bf16.
void silu_in_out(GemvArgs a, int slots, void* s, const char* what) {
    // The input is read element by element; 16-byte loads need only the weights aligned.
    a.vec = aligned16(a.w) && a.ldw % 8 == 0 && a.w_stride % 8 == 0 && a.N % 8 == 0;
    const dim3 grid(blocks(a.N, kTileCols), unsigned(slots));
    launch_pdl(&gemv_in_out_k<true>, grid, kColThreads * kRowGroups, s, a);
    check_launch(what);
}

}  // namespace

void gemv_silu_bf16(const float* gu, std::int64_t gu_stride, std::int64_t F, const std::uint16_t* w,
                    std::int64_t w_stride, const std::int32_t* expert, std::int64_t N,
                    std::int64_t ldw, float* y, std::int64_t y_stride, int slots, bool accumulate,
                    void* s) {
    if (N == 0 || slots == 0) return;
    GemvArgs a{nullptr, 0, F, w, w_stride, expert, N, ldw, y, y_stride, accumulate, false};
    a.gu = gu;
    a.gu_stride = gu_stride;
    silu_in_out(a, slots, s, "gemv_silu_bf16");
}

void gemv_silu_combine_bf16(const float* gu, std::int64_t gu_stride, std::int64_t F,
                            const std::uint16_t* w, std::int64_t w_stride,
                            const std::int32_t* expert, std::int64_t N, std::int64_t ldw, float* y,
                            int slots, const float* weight, float* x, unsigned* tile_done,
                            void* s) {
    if (N == 0 || slots == 0) return;
    GemvArgs a{nullptr, 0, F, w, w_stride, expert, N, ldw, y, N, false, false};
    a.gu = gu;
    a.gu_stride = gu_stride;
    a.combine_x = x;
    a.combine_weight = weight;
    a.tile_done = tile_done;
    silu_in_out(a, slots, s, "gemv_silu_combine_bf16");
}

namespace {

NormArgs norm_args(const GemvNorm& g, std::int64_t K, const char* what) {
    if (K > kGemvNormMaxK)
        throw CudaError(std::string(what) + ": the norm prologue takes rows of at most " +
                        std::to_string(kGemvNormMaxK) + " values, not " + std::to_string(K));
    return {g.x, g.w, g.eps, int(norm_threads(K)), g.out};
}

// gemv_route_bf16's launch, its input a bf16 row (a.x) or the norm prologue's (a.norm.x).
void route(GemvArgs a, int k, bool normalise, std::int32_t* index, float* weight, unsigned* done,
           void* s) {
    const std::int64_t E = a.N;
    if (E < 1 || E > kRouteMaxExperts || k < 1 || k > E)
        throw CudaError("gemv_route_bf16: " + std::to_string(E) + " experts, top " +
                        std::to_string(k) + " (1..1024 experts, 1..experts chosen)");
    a.tile_done = done;
    a.route_k = k;
    a.route_norm = normalise;
    a.route_index = index;
    a.route_weight = weight;
    auto* kernel = a.x ? &gemv_out_in_k<true, false> : &gemv_out_in_k<true, true>;
    launch_pdl(kernel, blocks(E, kWarpsPerBlock), 32 * kWarpsPerBlock, s, a);
    check_launch("gemv_route_bf16");
}

}  // namespace

void gemv_route_bf16(const std::uint16_t* x, std::int64_t K, const std::uint16_t* w, std::int64_t E,
                     std::int64_t ldw, float* logits, int k, bool normalise, std::int32_t* index,
                     float* weight, unsigned* done, void* s) {
    const bool vec = aligned16(w) && aligned16(x) && ldw % 8 == 0 && K % 8 == 0;
    route(GemvArgs{x, 0, K, w, 0, nullptr, E, ldw, logits, 0, false, vec}, k, normalise, index,
          weight, done, s);
}

void gemv_route_bf16(const GemvNorm& norm, std::int64_t K, const std::uint16_t* w, std::int64_t E,
                     std::int64_t ldw, float* logits, int k, bool normalise, std::int32_t* index,
                     float* weight, unsigned* done, void* s) {
    const bool vec = aligned16(w) && ldw % 8 == 0 && K % 8 == 0;  // the row is in shared memory
    GemvArgs a{nullptr, 0, K, w, 0, nullptr, E, ldw, logits, 0, false, vec};
    a.norm = norm_args(norm, K, "gemv_route_bf16");
    route(a, k, normalise, index, weight, done, s);
}

void gemv_norm_swiglu_bf16(const GemvNorm& norm, std::int64_t K, const std::uint16_t* w,
                           std::int64_t F, std::int64_t ldw, std::uint16_t* act, void* s) {
    if (F == 0) return;
    const bool vec = aligned16(w) && ldw % 8 == 0 && K % 8 == 0;
    GemvArgs a{nullptr, 0, K, w, 0, nullptr, F, ldw, nullptr, 0, false, vec};
    a.norm = norm_args(norm, K, "gemv_norm_swiglu_bf16");
    a.act = act;
    launch_pdl(&gemv_out_in_k<false, true, true>,
               std::min(blocks(F, kWarpsPerBlock), kNormMaxBlocks), 32 * kWarpsPerBlock, s, a);
    check_launch("gemv_norm_swiglu_bf16");
}

namespace {

// gemv_bf16_stacked's launch, its input a bf16 row (a.x) or the norm prologue's.
void stacked(StackedArgs a, const GemvPart* parts, int count, void* s) {
    if (count < 1 || count > kMaxGemvParts)
        throw CudaError("gemv_bf16_stacked: " + std::to_string(count) + " parts, not 1.." +
                        std::to_string(kMaxGemvParts));
    a.count = count;
    std::int64_t rows = 0;
    for (int p = 0; p < count; ++p) {
        a.part[p] = parts[p];
        a.vec = a.vec && aligned16(parts[p].w) && parts[p].ldw % 8 == 0;
        rows += parts[p].N;
    }
    if (rows == 0) return;
    auto* kernel = a.x ? &gemv_stacked_k<false> : &gemv_stacked_k<true>;
    const unsigned grid = blocks(rows, kWarpsPerBlock);
    launch_pdl(kernel, a.x ? grid : std::min(grid, kNormMaxBlocks), 32 * kWarpsPerBlock, s, a);
    check_launch("gemv_bf16_stacked");
}

}  // namespace

void gemv_bf16_stacked(const std::uint16_t* x, std::int64_t K, const GemvPart* parts, int count,
                       void* s) {
    stacked(StackedArgs{x, K, {}, 0, aligned16(x) && K % 8 == 0, {}}, parts, count, s);
}

void gemv_bf16_stacked(const GemvNorm& norm, std::int64_t K, const GemvPart* parts, int count,
                       void* s) {
    StackedArgs a{nullptr, K, {}, 0, K % 8 == 0, {}};
    a.norm = norm_args(norm, K, "gemv_bf16_stacked");
    stacked(a, parts, count, s);
}

}  // namespace deskpilot::model::cuda::k
