// The RMSNorm's reduction and element, shared by every kernel that normalises a row: rms_norm_k and
// qk_norm_rope_k (kernels.cu) and the matrix-vector kernels that normalise their own input
// (gemv.cu's norm prologue), so that they compute the same bits. Internal to
// model/engine/cuda/*.cu; include it after <cuda_runtime.h> and launch_util.cuh.
#pragma once

#include <cstdint>

namespace deskpilot::model::cuda::k {
namespace {

// rms_norm_k's block size for rows of d: the summation order a row's norm has.
inline unsigned norm_threads(std::int64_t d) {
    return d >= 1024 ? 512 : 128;
}

// 1 / rms of the row xr[0, d), summed in the order a block of `order` threads sums it (thread t
// takes the elements t, t + order, ...; warps add their lanes with shuffles, then warp 0 adds the
// warps), whatever this block's own size: a thread of a smaller block takes the place of
// order / blockDim.x such threads one after another, so a 256-thread GEMV block reproduces the
// 512-thread norm's bits. `order` is a multiple of 32 and at most 1024; every thread of the block
// calls this.
__device__ inline float inv_rms_ordered(const float* xr, std::int64_t d, float eps, int order) {
    __shared__ float part[32];
    for (int base = 0; base < order; base += int(blockDim.x)) {
        const int t = base + int(threadIdx.x);
        float ss = 0.0f;
        if (t < order)
            for (std::int64_t i = t; i < d; i += order) ss += xr[i] * xr[i];
        ss = warp_sum(ss);
        if ((threadIdx.x & 31) == 0 && t < order) part[t >> 5] = ss;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = int(threadIdx.x) < (order >> 5) ? part[threadIdx.x] : 0.0f;
        v = warp_sum(v);
        if (threadIdx.x == 0) part[0] = v;
    }
    __syncthreads();
    return 1.0f / sqrtf(part[0] / float(d) + eps);
}

// One normalised element: weight · (x · inv), in this order.
__device__ __forceinline__ float norm_value(float x, float w, float inv) {
    return w * (x * inv);
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
