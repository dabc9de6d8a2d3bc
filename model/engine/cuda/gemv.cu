// Batch-1 matrix-vector products on bf16 weights (gemv.h). Two kernels, one per weight layout:
// - out_in ([N, K], each output's weights contiguous): one warp per output, its lanes reading the
//   row 16 bytes at a time and summing with shuffles;
// - in_out ([K, N], each input's weights contiguous): a block per 32 outputs, 4 threads across
//   them (8 outputs each, one 16-byte load per input row) and 64 groups of rows down K, whose
//   partial sums meet in shared memory. (64 outputs a block gave an MoE layer's 8 experts 192
//   and 256 blocks, too few to keep the H200's memory busy: 2.2-2.3 TB/s.)
// Both take the expert of each slot from the device (the MoE decode step) and fall back to
// element loads where a shape or pointer is not a multiple of 8 elements (the tiny checkpoints).
// gemv_bf16_stacked is the out_in kernel over several matrices' rows in one launch.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemv.h"
#include "model/engine/cuda/launch_util.cuh"

namespace deskpilot::model::cuda::k {

namespace {

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
// in_out: a block's 32 outputs, 4 threads across them, 64 row groups down K.
constexpr int kColThreads = 4, kRowGroups = 64, kTileCols = kColThreads * 8;

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

__global__ void gemv_out_in_k(GemvArgs a) {
    const int slot = int(blockIdx.y), lane = int(threadIdx.x % 32);
    const std::int64_t n = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (n >= a.N) return;  // the whole warp: n is the warp's
    const std::int64_t e = a.expert ? a.expert[slot] : slot;
    const std::uint16_t* w = a.w + e * a.w_stride + n * a.ldw;
    const float acc = row_dot(w, a.x + slot * a.x_stride, a.K, lane, a.vec);
    if (lane == 0) store(a, slot, n, acc);
}

// gemv_bf16_stacked: the parts' rows one after another; each warp finds its part.
struct StackedArgs {
    const std::uint16_t* x;
    std::int64_t K;
    GemvPart part[kMaxGemvParts];
    int count;
    bool vec;
};

__global__ void gemv_stacked_k(StackedArgs a) {
    const int lane = int(threadIdx.x % 32);
    std::int64_t n = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    int p = 0;
    while (p < a.count && n >= a.part[p].N) n -= a.part[p++].N;
    if (p == a.count) return;  // the whole warp: past the last part's rows
    const float acc = row_dot(a.part[p].w + n * a.part[p].ldw, a.x, a.K, lane, a.vec);
    if (lane == 0) a.part[p].y[n] = acc;
}

__global__ void gemv_in_out_k(GemvArgs a) {
    __shared__ float part[kRowGroups][kTileCols + 1];
    const int slot = int(blockIdx.y), cg = int(threadIdx.x % kColThreads),
              rg = int(threadIdx.x / kColThreads);
    const std::int64_t n0 = std::int64_t(blockIdx.x) * kTileCols + cg * 8;
    const std::int64_t e = a.expert ? a.expert[slot] : slot;
    const std::uint16_t* w = a.w + e * a.w_stride + n0;
    const std::uint16_t* x = a.x + slot * a.x_stride;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (a.vec) {
        if (n0 < a.N) {
#pragma unroll 4
            for (std::int64_t k = rg; k < a.K; k += kRowGroups) {
                const float xk = bf16_at(x + k);
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
            const float xk = bf16_at(x + k);
            for (int i = 0; i < 8; ++i)
                if (n0 + i < a.N) acc[i] += xk * bf16_at(w + k * a.ldw + i);
        }
    }
    for (int i = 0; i < 8; ++i) part[rg][cg * 8 + i] = acc[i];
    __syncthreads();
    if (threadIdx.x < kTileCols) {
        const std::int64_t n = std::int64_t(blockIdx.x) * kTileCols + threadIdx.x;
        if (n < a.N) {
            float sum = 0.0f;
            for (int r = 0; r < kRowGroups; ++r) sum += part[r][threadIdx.x];
            store(a, slot, n, sum);
        }
    }
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
    const GemvArgs a{x, x_stride, K, w, w_stride, expert, N, ldw, y, y_stride, accumulate, vec};
    if (out_in) {
        const dim3 grid(blocks(N, kWarpsPerBlock), unsigned(slots));
        gemv_out_in_k<<<grid, 32 * kWarpsPerBlock, 0, S(s)>>>(a);
        check_launch("gemv_bf16 (out_in)");
    } else {
        const dim3 grid(blocks(N, kTileCols), unsigned(slots));
        gemv_in_out_k<<<grid, kColThreads * kRowGroups, 0, S(s)>>>(a);
        check_launch("gemv_bf16 (in_out)");
    }
}

void gemv_bf16_stacked(const std::uint16_t* x, std::int64_t K, const GemvPart* parts, int count,
                       void* s) {
    if (count < 1 || count > kMaxGemvParts)
        throw CudaError("gemv_bf16_stacked: " + std::to_string(count) + " parts, not 1.." +
                        std::to_string(kMaxGemvParts));
    StackedArgs a{x, K, {}, count, aligned16(x) && K % 8 == 0};
    std::int64_t rows = 0;
    for (int p = 0; p < count; ++p) {
        a.part[p] = parts[p];
        a.vec = a.vec && aligned16(parts[p].w) && parts[p].ldw % 8 == 0;
        rows += parts[p].N;
    }
    if (rows == 0) return;
    gemv_stacked_k<<<blocks(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, S(s)>>>(a);
    check_launch("gemv_bf16_stacked");
}

}  // namespace deskpilot::model::cuda::k
