// The MoE router's choice for one token by one warp: route_warp_k (kernels.cu) and the router
// GEMV that routes in its last block (gemv.cu) run this same code, so they choose alike to the
// bit. Internal to model/engine/cuda/*.cu; include it after <cuda_runtime.h> and launch_util.cuh.
#pragma once

#include <cfloat>
#include <cstdint>

namespace deskpilot::model::cuda::k {
namespace {

// The most experts route_warp takes (its scratch p holds one float per expert).
constexpr int kRouteMaxExperts = 1024;

// Softmax over the E logits x, the k largest probabilities (ties to the lower index) into idx and
// wt, renormalised when `norm` (twin: cpu::route_top_k). Every lane of one warp calls it (`lane`
// its lane); p is shared scratch of E floats, each entry read and written by its own lane only
// (e % 32), so no barrier is needed; a chosen expert's p becomes -1. The logits are read past L1
// (__ldcg): the router GEMV's last block reads what other blocks wrote in the same launch.
__device__ inline void route_warp(const float* x, std::int64_t E, int k, bool norm,
                                  std::int32_t* idx, float* wt, float* p, int lane) {
    float mx = -FLT_MAX;
    for (std::int64_t e = lane; e < E; e += 32) mx = fmaxf(mx, __ldcg(x + e));
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float part = 0.0f;
    for (std::int64_t e = lane; e < E; e += 32) {
        p[e] = expf(__ldcg(x + e) - mx);
        part += p[e];
    }
    const float sum = warp_sum(part);
    for (std::int64_t e = lane; e < E; e += 32) p[e] = p[e] / sum;
    double total = 0.0;
    for (int j = 0; j < k; ++j) {
        float bp = -1.0f, be = float(E);  // indices travel as floats (exact below 2^24)
        for (std::int64_t e = lane; e < E; e += 32)
            if (p[e] > bp) {
                bp = p[e];
                be = float(e);
            }
        for (int o = 16; o > 0; o >>= 1) {
            const float op = __shfl_xor_sync(0xffffffffu, bp, o),
                        oe = __shfl_xor_sync(0xffffffffu, be, o);
            if (op > bp || (op == bp && oe < be)) {
                bp = op;
                be = oe;
            }
        }
        const int best = int(be);
        if (best % 32 == lane) p[best] = -1.0f;
        if (lane == 0) {
            idx[j] = best;
            wt[j] = bp;
        }
        total += bp;
    }
    if (norm && lane == 0)
        for (int j = 0; j < k; ++j) wt[j] = float(wt[j] / total);
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
