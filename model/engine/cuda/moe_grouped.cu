// An MoE layer's prefill grouped on the device (moe_grouped.h).
// - Grouping: one block counts the pairs per expert in shared memory and scans the counts (rows
//   and 64-row tiles); then one block per expert walks the pairs in order and writes its rows
//   with a block-wide prefix of warp ballots, so the order within an expert is the pairs' order.
// - Products: a grid of (row tile, column tile) blocks over all experts. Each block finds its
//   expert by a binary search of the tile offsets, then runs a tensor-core GEMM tile (mma.cuh):
//   64 rows × 128 weight columns, k steps of 32 copied to shared memory with cp.async two steps
//   ahead, fragments read with ldmatrix (transposed for the in_out layout, whose tiles stay as
//   the weights lie). Four warps, each 32 rows × 64 columns (2 × 8 mma tiles). The A rows are
//   read through `src`, so the gate/up product takes the normalised tokens where they are and
//   needs no gather; its epilogue applies SwiGLU, the block's 128 columns being 64 gate columns
//   and the 64 up columns that pair with them.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/launch_util.cuh"
#include "model/engine/cuda/mma.cuh"
#include "model/engine/cuda/moe_grouped.h"

namespace deskpilot::model::cuda::k {

namespace {

constexpr int kBM = kMoeTileRows;
constexpr int kBN = 128;    // weight columns a block multiplies
constexpr int kBK = 32;     // inputs a k step stages
constexpr int kStages = 3;  // k steps in flight (cp.async)
// Shared rows padded by 8 bf16, so the 8 rows of 16 bytes an ldmatrix matrix reads fall in 8
// different 16-byte bank groups: k-major rows of kBK inputs (80 bytes) and n-major rows of kBN
// columns (272 bytes).
constexpr int kRowStride = kBK + 8, kColStride = kBN + 8;
constexpr int kAElems = kBM * kRowStride;
constexpr int kBElems = kBN * kRowStride;  // also holds an in_out tile: kBK * kColStride
static_assert(kBK * kColStride <= kBElems, "an in_out B tile fits its stage");
constexpr int kStageElems = kAElems + kBElems;  // 7 680 bf16: 3 stages are 45 KiB of shared memory
constexpr int kGemmThreads = 128;
constexpr int kCountThreads = kMoeMaxExperts;  // moe_count_k: one scan slot per thread
constexpr int kScatterThreads = 256;

// Counts per expert, then their inclusive scans (rows and tiles) by Hillis-Steele steps.
__global__ void moe_count_k(const std::int32_t* index, std::int64_t pairs, int E,
                            std::int32_t* offsets, std::int32_t* tiles) {
    __shared__ unsigned count[kCountThreads], rows[kCountThreads], tile[kCountThreads];
    const int t = int(threadIdx.x);
    count[t] = 0;
    __syncthreads();
    // An id outside 0..E-1 (the routers write none) is not counted rather than written past the
    // shared arrays.
    for (std::int64_t p = t; p < pairs; p += kCountThreads)
        if (unsigned(index[p]) < unsigned(E)) atomicAdd(&count[index[p]], 1u);
    __syncthreads();
    rows[t] = count[t];
    tile[t] = (count[t] + kBM - 1) / kBM;
    __syncthreads();
    for (int o = 1; o < kCountThreads; o <<= 1) {
        const unsigned r = t >= o ? rows[t - o] : 0u, q = t >= o ? tile[t - o] : 0u;
        __syncthreads();
        rows[t] += r;
        tile[t] += q;
        __syncthreads();
    }
    if (t < E) {
        offsets[t + 1] = std::int32_t(rows[t]);
        tiles[t + 1] = std::int32_t(tile[t]);
    }
    if (t == 0) offsets[0] = tiles[0] = 0;
}

// Block e: expert e's rows, in the pairs' order.
__global__ void moe_scatter_k(const std::int32_t* index, std::int64_t pairs, int k,
                              const std::int32_t* offsets, std::int32_t* src,
                              std::int32_t* row_of) {
    __shared__ unsigned warp_count[kScatterThreads / 32];
    const int e = int(blockIdx.x), t = int(threadIdx.x), lane = t % 32, warp = t / 32;
    std::int64_t base = offsets[e];
    for (std::int64_t p0 = 0; p0 < pairs; p0 += kScatterThreads) {
        const std::int64_t p = p0 + t;
        const bool mine = p < pairs && index[p] == e;
        const unsigned ballot = __ballot_sync(0xffffffffu, mine);
        if (lane == 0) warp_count[warp] = unsigned(__popc(ballot));
        __syncthreads();
        std::int64_t before = base, total = 0;
        for (int w = 0; w < kScatterThreads / 32; ++w) {
            before += w < warp ? warp_count[w] : 0u;
            total += warp_count[w];
        }
        if (mine) {
            const std::int64_t r = before + __popc(ballot & ((1u << lane) - 1u));
            src[r] = std::int32_t(p / k);
            row_of[p] = std::int32_t(r);
        }
        base += total;
        __syncthreads();  // every warp has read warp_count before the next chunk writes it
    }
}

struct GemmArgs {
    const std::uint16_t* x;
    const std::int32_t* src;
    std::int64_t K;
    MoeWeights w;
    std::int64_t N;  // output columns (SwiGLU: activation columns, the weights holding 2N)
    MoeGroups g;
    float* y;
    std::uint16_t* act;
};

template <bool kSwiglu>
__device__ __forceinline__ void moe_gemm_tile(const GemmArgs& a) {
    // kStages k steps: A [kBM][kBK], and B out_in as [kBN][kBK] (each column's inputs contiguous,
    // as the weights lie) or in_out as [kBK][kBN] (each input's columns contiguous, as the weights
    // lie; ldmatrix transposes it into B fragments).
    alignas(16) __shared__ std::uint16_t smem[kStages * kStageElems];
    const int tile_index = int(blockIdx.x);
    const int* tiles = a.g.tiles;
    if (tile_index >= tiles[a.g.E]) return;
    // The tile's expert: the last e with tiles[e] <= tile_index (one with no tiles is never it:
    // the next expert starts where it does).
    int lo = 0, hi = a.g.E - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (tiles[mid] <= tile_index)
            lo = mid;
        else
            hi = mid - 1;
    }
    const int e = lo;
    const std::int64_t r0 = a.g.offsets[e] + std::int64_t(tile_index - tiles[e]) * kBM;
    const int rows = int(min(std::int64_t(kBM), std::int64_t(a.g.offsets[e + 1]) - r0));
    const std::uint16_t* we = a.w.w + e * a.w.w_stride;
    // The block's weight columns: c0 + c, or for SwiGLU gate c0 + c and up N + c0 + (c - 64).
    const std::int64_t c0 = std::int64_t(blockIdx.y) * (kSwiglu ? kBN / 2 : kBN);
    auto weight_col = [&](int c) -> std::int64_t {  // -1 past the end
        if (kSwiglu) {
            const std::int64_t j = c0 + (c % (kBN / 2));
            return j < a.N ? j + (c >= kBN / 2 ? a.N : 0) : -1;
        }
        return c0 + c < a.N ? c0 + c : -1;
    };

    const int tid = int(threadIdx.x);
    // A step's A copies: 8 inputs of row i / 4 from input (i % 4) · 8, for i = tid + 128 j.
    const std::uint16_t* a_row[2];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
        const int row = (tid + kGemmThreads * j) / 4;
        const std::int64_t r = r0 + row;
        a_row[j] = row < rows ? a.x + std::int64_t(a.src ? a.src[r] : r) * a.K : nullptr;
    }
    // Issues k step `step`'s copies into its stage, as one group.
    auto issue = [&](std::int64_t step) {
        std::uint16_t* As = smem + (step % kStages) * kStageElems;
        std::uint16_t* Bs = As + kAElems;
        const std::int64_t k0 = step * kBK;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const int i = tid + kGemmThreads * j, kq = (i % 4) * 8;
            const bool ok = a_row[j] && k0 + kq < a.K;
            cp_async16(As + (i / 4) * kRowStride + kq, ok ? a_row[j] + k0 + kq : a.x, ok);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int i = tid + kGemmThreads * j;
            if (a.w.out_in) {  // 128 weight rows × 4 copies of 8 inputs
                const int c = i / 4, kq = (i % 4) * 8;
                const std::int64_t n = weight_col(c);
                const bool ok = n >= 0 && k0 + kq < a.K;
                cp_async16(Bs + c * kRowStride + kq, ok ? we + n * a.w.ldw + k0 + kq : we, ok);
            } else {  // 32 input rows × 16 copies of 8 columns
                const int kr = i / 16, c = (i % 16) * 8;
                const std::int64_t n = weight_col(c);
                const bool ok = n >= 0 && k0 + kr < a.K;
                cp_async16(Bs + kr * kColStride + c, ok ? we + (k0 + kr) * a.w.ldw + n : we, ok);
            }
        }
        cp_async_commit();
    };

    const int warp = tid / 32, lane = tid % 32, g = lane / 4, tq = lane % 4;
    const int wm = warp / 2, wn = warp % 2;
    // The warp's 8 column tiles of 8: 64 consecutive columns, or for SwiGLU 32 gate columns and
    // the 32 up columns that pair with them (tile ni and ni + 4 then hold the same activations).
    auto tile_col = [&](int ni) {
        if (kSwiglu) return ni < 4 ? 32 * wn + 8 * ni : kBN / 2 + 32 * wn + 8 * (ni - 4);
        return 64 * wn + 8 * ni;
    };
    float acc[2][8][4] = {};
    const std::int64_t steps = (a.K + kBK - 1) / kBK;
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
        if (s < steps)
            issue(s);
        else
            cp_async_commit();  // an empty group: every step below counts one group
    }
    for (std::int64_t step = 0; step < steps; ++step) {
        cp_async_wait<kStages - 2>();  // this thread's copies of `step` have landed
        // Everyone's have, and every warp is done with the stage the next issue refills.
        __syncthreads();
        if (step + kStages - 1 < steps)
            issue(step + kStages - 1);
        else
            cp_async_commit();
        const std::uint16_t* As = smem + (step % kStages) * kStageElems;
        const std::uint16_t* Bs = As + kAElems;
#pragma unroll
        for (int ks = 0; ks < kBK; ks += 16) {
            // Lanes 8i..8i+7 address matrix i: for A, rows 0-7 / 8-15 at inputs ks / ks + 8 (the
            // fragment's four registers); for B, tile 2p / 2p + 1 at inputs ks / ks + 8 (b0 and
            // b1 of each tile).
            unsigned af[2][4], bf[8][2];
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
                ldmatrix_x4(af[mi], As + (32 * wm + 16 * mi + lane % 16) * kRowStride + ks +
                                        (lane / 16) * 8);
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                const int col = tile_col(2 * p + lane / 16), kq = ks + (lane / 8) % 2 * 8;
                unsigned r[4];
                if (a.w.out_in)
                    ldmatrix_x4(r, Bs + (col + lane % 8) * kRowStride + kq);
                else
                    ldmatrix_x4_trans(r, Bs + (kq + lane % 8) * kColStride + col);
                bf[2 * p][0] = r[0];
                bf[2 * p][1] = r[1];
                bf[2 * p + 1][0] = r[2];
                bf[2 * p + 1][1] = r[3];
            }
#pragma unroll
            for (int ni = 0; ni < 8; ++ni)
#pragma unroll
                for (int mi = 0; mi < 2; ++mi)
                    mma_bf16_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }
    }

#pragma unroll
    // Lane (g, tq) holds rows g and g + 8 of each 16-row tile, columns 2 tq and 2 tq + 1.
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = 32 * wm + 16 * mi + g + 8 * h;
            if (row >= rows) continue;
            const std::int64_t r = r0 + row;
#pragma unroll
            for (int ni = 0; ni < (kSwiglu ? 4 : 8); ++ni) {
                const std::int64_t n = c0 + tile_col(ni) + 2 * tq;  // N is even: n + 1 < N too
                if (n >= a.N) continue;
                const float* v = acc[mi][ni] + 2 * h;
                if (kSwiglu) {
                    const float* u = acc[mi][ni + 4] + 2 * h;
                    const unsigned lo = f2bf16(silu_mul_value(v[0], u[0])),
                                   hi = f2bf16(silu_mul_value(v[1], u[1]));
                    *reinterpret_cast<unsigned*>(a.act + r * a.N + n) = lo | hi << 16;
                } else {
                    a.y[r * a.N + n] = v[0];
                    a.y[r * a.N + n + 1] = v[1];
                }
            }
        }
}

__global__ void __launch_bounds__(kGemmThreads) moe_gemm_k(GemmArgs a) {
    moe_gemm_tile<false>(a);
}
__global__ void __launch_bounds__(kGemmThreads) moe_swiglu_k(GemmArgs a) {
    moe_gemm_tile<true>(a);
}

void launch_gemm(const GemmArgs& a, bool swiglu, void* s) {
    if (!moe_grouped_supports(a.K, a.N, a.w.ldw, a.g.E))
        throw CudaError("MoE grouped product: K " + std::to_string(a.K) + ", N " +
                        std::to_string(a.N) + ", ldw " + std::to_string(a.w.ldw) + ", " +
                        std::to_string(a.g.E) + " experts are not supported");
    if (a.g.max_tiles <= 0) return;
    const dim3 grid(unsigned(a.g.max_tiles), blocks(a.N, swiglu ? kBN / 2 : kBN));
    if (swiglu) {
        moe_swiglu_k<<<grid, kGemmThreads, 0, S(s)>>>(a);
    } else {
        moe_gemm_k<<<grid, kGemmThreads, 0, S(s)>>>(a);
    }
    check_launch(swiglu ? "moe_gate_up_swiglu_bf16" : "moe_gemm_bf16");
}

}  // namespace

void moe_group(const std::int32_t* index, std::int64_t pairs, int k, int E, std::int32_t* offsets,
               std::int32_t* tiles, std::int32_t* src, std::int32_t* row_of, void* s) {
    if (E < 1 || E > kMoeMaxExperts)
        throw CudaError("MoE grouping: " + std::to_string(E) + " experts (at most " +
                        std::to_string(kMoeMaxExperts) + ")");
    moe_count_k<<<1, kCountThreads, 0, S(s)>>>(index, pairs, E, offsets, tiles);
    moe_scatter_k<<<unsigned(E), kScatterThreads, 0, S(s)>>>(index, pairs, k, offsets, src, row_of);
    check_launch("moe_group");
}

std::int64_t moe_max_tiles(std::int64_t rows, int E) {
    return rows / kBM + std::min(rows, std::int64_t(E));
}

bool moe_grouped_supports(std::int64_t K, std::int64_t N, std::int64_t ldw, int E) {
    return K > 0 && N > 0 && K % 8 == 0 && N % 8 == 0 && ldw % 8 == 0 && E >= 1 &&
           E <= kMoeMaxExperts;
}

void moe_gemm_bf16(const std::uint16_t* x, const std::int32_t* src, std::int64_t K,
                   const MoeWeights& w, std::int64_t N, const MoeGroups& g, float* y, void* s) {
    launch_gemm({x, src, K, w, N, g, y, nullptr}, false, s);
}

void moe_gate_up_swiglu_bf16(const std::uint16_t* x, const std::int32_t* src, std::int64_t K,
                             const MoeWeights& w, std::int64_t F, const MoeGroups& g,
                             std::uint16_t* act, void* s) {
    launch_gemm({x, src, K, w, F, g, nullptr, act}, true, s);
}

}  // namespace deskpilot::model::cuda::k
