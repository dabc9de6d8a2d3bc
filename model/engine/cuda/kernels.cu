// The engine's CUDA kernels. Plain, readable kernels first: each matches its CPU twin (see
// kernels.h) within float rounding. Fused forms (rms_norm_bf16, silu_mul_bf16, add_bias_qkv,
// qk_norm_rope, attention with a bf16 output) save the decode step launches and passes over
// the activations. The KV
// cache kernels take f32 or bf16 caches (CudaTextModel keeps bf16 by default).
#include <cuda_runtime.h>

#include <atomic>
#include <cfloat>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/env_switch.h"
#include "model/engine/cuda/kernels.h"
#include "model/engine/cuda/launch_util.cuh"
#include "model/engine/cuda/norm_util.cuh"
#include "model/engine/cuda/route_util.cuh"
#include "model/engine/cuda/sample_twin.h"

namespace deskpilot::model::cuda::k {

namespace {

__global__ void to_bf16_k(const float* x, std::uint16_t* y, std::int64_t n) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i < n) y[i] = f2bf16(x[i]);
}

__global__ void fill_random_k(std::uint16_t* w, std::int64_t n, std::uint64_t seed, float scale) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    std::uint64_t z = seed + std::uint64_t(i) * 0x9e3779b97f4a7c15ull;  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u = float(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    w[i] = f2bf16((2.0f * u - 1.0f) * scale);
}

__global__ void fill_f32_k(float* x, std::int64_t n, float v) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i < n) x[i] = v;
}

__global__ void embed_k(const std::uint16_t* table, const std::int32_t* ids, std::int64_t H,
                        float* out) {
    const std::int64_t row = blockIdx.x;
    const std::uint16_t* src = table + std::int64_t(ids[row]) * H;
    for (std::int64_t c = threadIdx.x; c < H; c += blockDim.x) out[row * H + c] = bf16f(src[c]);
}

// 1 / rms of the row xr[0, d) in this block's own summation order: rms_norm_k and qk_norm_rope_k
// share it, so their results are the same bits.
__device__ float inv_rms(const float* xr, std::int64_t d, float eps) {
    return inv_rms_ordered(xr, d, eps, int(blockDim.x));
}

// out (f32) and ob (bf16, the next GEMM's input) each written where not null: the fused form
// saves a to_bf16 launch and a pass over the row.
__global__ void rms_norm_k(const float* x, const float* w, std::int64_t d, float eps, float* out,
                           std::uint16_t* ob) {
    const float* xr = x + blockIdx.x * d;
    const float inv = inv_rms(xr, d, eps);
    // Every thread reads its own elements before writing them: in place (out == x) is safe.
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
        const float y = norm_value(xr[i], w[i], inv);
        if (out) out[blockIdx.x * d + i] = y;
        if (ob) ob[blockIdx.x * d + i] = f2bf16(y);
    }
}

// Rotates the pair (j, j + half) of one head row v of token t (rope_k and qk_norm_rope_k).
__device__ __forceinline__ void rotate(float* v, std::int64_t j, std::int64_t half, std::int64_t S,
                                       std::int64_t t, const std::int32_t* pos,
                                       const float* inv_freq, const std::int32_t* axis) {
    const float angle = float(pos[axis[j] * S + t]) * inv_freq[j];
    const float c = cosf(angle), s = sinf(angle);
    const float a = v[j], b = v[j + half];
    v[j] = a * c - b * s;
    v[j + half] = b * c + a * s;
}

__global__ void rope_k(float* x, std::int64_t S, std::int64_t heads, std::int64_t half,
                       const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis) {
    const std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (idx >= S * heads * half) return;
    const std::int64_t j = idx % half, th = idx / half;
    rotate(x + th * 2 * half, j, half, S, th / heads, pos, inv_freq, axis);
}

// One head row x of token t, by the whole block: RMS-normalised with w (null: no q/k norm,
// Qwen2), then rotated, in place (qk_norm_rope_k and qk_norm_rope_append_k).
__device__ __forceinline__ void norm_rope_row(float* x, const float* w, std::int64_t half,
                                              float eps, std::int64_t S, std::int64_t t,
                                              const std::int32_t* pos, const float* inv_freq,
                                              const std::int32_t* axis) {
    const std::int64_t d = 2 * half;
    if (w) {
        const float inv = inv_rms(x, d, eps);
        for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x)
            x[i] = norm_value(x[i], w[i], inv);
        __syncthreads();  // the rotation reads elements other threads normalised
    }
    for (std::int64_t j = threadIdx.x; j < half; j += blockDim.x)
        rotate(x, j, half, S, t, pos, inv_freq, axis);
}

// One block per head row: the S·NH rows of q, then the S·KH rows of k. Each is RMS-normalised
// with its weights (wq / wk; null: no q/k norm, Qwen2) and rotated, in place.
__global__ void qk_norm_rope_k(float* q, float* k, std::int64_t S, std::int64_t NH, std::int64_t KH,
                               std::int64_t half, const float* wq, const float* wk, float eps,
                               const std::int32_t* pos, const float* inv_freq,
                               const std::int32_t* axis) {
    const bool is_q = std::int64_t(blockIdx.x) < S * NH;  // the same for the whole block
    const std::int64_t row = is_q ? blockIdx.x : blockIdx.x - S * NH;
    norm_rope_row((is_q ? q : k) + row * 2 * half, is_q ? wq : wk, half, eps, S,
                  row / (is_q ? NH : KH), pos, inv_freq, axis);
}

// KV cache elements are written f32, or bf16 (raw bits, rounded to nearest even; read back with
// launch_util.cuh's kv_load).
__device__ __forceinline__ void kv_store(float* p, float x) {
    *p = x;
}
__device__ __forceinline__ void kv_store(std::uint16_t* p, float x) {
    *p = f2bf16(x);
}

// kDevicePast: the write row is *past_d (a decode step's graph, kv_append_decode), else `past`.
template <typename T, bool kDevicePast>
__global__ void kv_append_k(const float* k, const float* v, std::int64_t S, std::int64_t KH,
                            std::int64_t d, T* kc, T* vc, std::int64_t cap, std::int64_t past,
                            const std::int64_t* past_d) {
    const std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (idx >= S * KH * d) return;
    if constexpr (kDevicePast) past = *past_d;
    const std::int64_t c = idx % d, g = (idx / d) % KH, i = idx / (d * KH);
    const std::int64_t dst = (g * cap + past + i) * d + c;
    kv_store(kc + dst, k[idx]);
    kv_store(vc + dst, v[idx]);
}

// A decode step's q/k norm, rotary and KV append in one launch: blocks 0..NH-1 take q's rows and
// NH..NH+KH-1 k's (normalised and rotated in place as qk_norm_rope_k does, k's then stored at
// cache row `past`, or *past_d where kDevicePast), the last KH copy v's rows to the cache.
template <typename T, bool kDevicePast>
__global__ void qk_norm_rope_append_k(float* q, float* k, const float* v, std::int64_t NH,
                                      std::int64_t KH, std::int64_t half, const float* wq,
                                      const float* wk, float eps, const std::int32_t* pos,
                                      const float* inv_freq, const std::int32_t* axis, T* kc, T* vc,
                                      std::int64_t cap, std::int64_t past,
                                      const std::int64_t* past_d) {
    pdl_trigger();  // launched with PDL (pdl.h)
    pdl_wait();
    if constexpr (kDevicePast) past = *past_d;
    const std::int64_t d = 2 * half, b = blockIdx.x;  // b: the same for the whole block
    if (b >= NH + KH) {
        const std::int64_t g = b - NH - KH;
        T* dst = vc + (g * cap + past) * d;
        for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) kv_store(dst + i, v[g * d + i]);
        return;
    }
    const bool is_q = b < NH;
    float* x = is_q ? q + b * d : k + (b - NH) * d;
    norm_rope_row(x, is_q ? wq : wk, half, eps, 1, 0, pos, inv_freq, axis);
    if (is_q) return;
    __syncthreads();  // the store reads elements other threads rotated
    T* dst = kc + ((b - NH) * cap + past) * d;
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) kv_store(dst + i, x[i]);
}

constexpr int kWarps = 4;
constexpr int kMaxD = 256;

// The merged, normalised output element c of one (query, head) from its `splits` partials p
// ({m, l, o[d]} each; a split with l = 0 took no keys). Read past L1 (__ldcg): the fused form reads
// partials other blocks of the same launch wrote. attention_merge_k and attention_partial_k's
// merging block both compute it here, so they give the same bits.
__device__ float merged_value(const float* p, int splits, std::int64_t d, std::int64_t c) {
    float M = -FLT_MAX;
    for (int s = 0; s < splits; ++s)
        if (__ldcg(p + s * (d + 2) + 1) > 0.0f) M = fmaxf(M, __ldcg(p + s * (d + 2)));
    float L = 0.0f, o = 0.0f;
    for (int s = 0; s < splits; ++s) {
        const float* ps = p + s * (d + 2);
        const float l = __ldcg(ps + 1);
        if (l <= 0.0f) continue;
        const float w = __expf(__ldcg(ps) - M);
        L += l * w;
        o += __ldcg(ps + 2 + c) * w;
    }
    return o / L;
}

// grid (q_len, heads, splits), block 32·kWarps. Partial result per split: {m, l, o[d]}. K/V
// elements T (f32 or bf16) are read as f32; everything else is f32. kDevicePast (a decode step's
// graph, attention_decode): past is *past_d and only the first decode_splits(past) of the grid's
// splits take keys (as an eager step's grid of that many would); the others write an empty
// partial, which the merge skips (the scratch keeps the grid's layout, so a longer step's
// partials never linger there). Where `done` is not null, the last of a (query, head)'s split
// blocks to finish merges them into out (f32) or ob (bf16), as attention_merge_k would: each block
// makes its partial visible (__threadfence) before it counts itself on done[i·heads + h], and the
// merging block sets that counter back to zero.
template <typename T, bool kDevicePast>
__global__ void attention_partial_k(const float* q, std::int64_t past, const std::int64_t* past_d,
                                    std::int64_t heads, std::int64_t KH, std::int64_t d,
                                    const T* kc, const T* vc, std::int64_t cap, float scale,
                                    float* scratch, unsigned* done, float* merged,
                                    std::uint16_t* merged_bf16) {
    pdl_trigger();  // launched with PDL (pdl.h)
    pdl_wait();
    const int split = blockIdx.z, grid_splits = gridDim.z, lane = threadIdx.x & 31,
              warp = threadIdx.x >> 5;
    const std::int64_t h = blockIdx.y, i = blockIdx.x, g = h / (heads / KH);
    float* out = scratch + ((i * heads + h) * grid_splits + split) * (d + 2);
    int splits = grid_splits;
    if constexpr (kDevicePast) {
        past = *past_d;
        splits = min(decode_splits(past), grid_splits);
    }
    if (split >= splits) {  // uniform per block: the whole block takes one branch
        for (std::int64_t c = threadIdx.x; c < d; c += blockDim.x) out[2 + c] = 0.0f;
        if (threadIdx.x == 0) {
            out[0] = -FLT_MAX;
            out[1] = 0.0f;
        }
    } else {
        const std::int64_t n = past + i + 1, chunk = (n + splits - 1) / splits;
        const std::int64_t begin = split * chunk, end = min(n, begin + chunk);
        const float* qv = q + (i * heads + h) * d;
        const T* kb = kc + g * cap * d;
        const T* vb = vc + g * cap * d;
        const int per = int(d / 32);
        float qr[kMaxD / 32], acc[kMaxD / 32];
        for (int r = 0; r < per; ++r) {
            qr[r] = qv[lane + 32 * r];
            acc[r] = 0.0f;
        }
        float m = -FLT_MAX, l = 0.0f;
        for (std::int64_t t = begin + warp; t < end; t += kWarps) {
            float s = 0.0f;
            for (int r = 0; r < per; ++r) s += qr[r] * kv_load(kb + t * d + lane + 32 * r);
            s = warp_sum(s) * scale;
            const float mn = fmaxf(m, s), corr = __expf(m - mn), p = __expf(s - mn);
            l = l * corr + p;
            for (int r = 0; r < per; ++r)
                acc[r] = acc[r] * corr + p * kv_load(vb + t * d + lane + 32 * r);
            m = mn;
        }
        __shared__ float sm[kWarps], sl[kWarps], so[kWarps][kMaxD];
        if (lane == 0) {
            sm[warp] = m;
            sl[warp] = l;
        }
        for (int r = 0; r < per; ++r) so[warp][lane + 32 * r] = acc[r];
        __syncthreads();
        float M = -FLT_MAX;
        for (int w = 0; w < kWarps; ++w) M = fmaxf(M, sm[w]);
        for (std::int64_t c = threadIdx.x; c < d; c += blockDim.x) {
            float o = 0.0f;
            for (int w = 0; w < kWarps; ++w)
                if (sl[w] > 0.0f) o += so[w][c] * __expf(sm[w] - M);
            out[2 + c] = o;
        }
        if (threadIdx.x == 0) {
            float L = 0.0f;
            for (int w = 0; w < kWarps; ++w)
                if (sl[w] > 0.0f) L += sl[w] * __expf(sm[w] - M);
            out[0] = M;
            out[1] = L;
        }
    }
    if (!done) return;  // attention_merge_k merges
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    unsigned* count = done + i * heads + h;
    if (threadIdx.x == 0) last = atomicAdd(count, 1u) == unsigned(grid_splits) - 1;
    __syncthreads();
    if (!last) return;
    const float* p = scratch + (i * heads + h) * grid_splits * (d + 2);
    for (std::int64_t c = threadIdx.x; c < d; c += blockDim.x) {
        const float v = merged_value(p, grid_splits, d, c);
        if (merged_bf16)
            merged_bf16[(i * heads + h) * d + c] = f2bf16(v);
        else
            merged[(i * heads + h) * d + c] = v;
    }
    if (threadIdx.x == 0) *count = 0u;  // ready for the next launch
}

// grid (q_len, heads), block d: merges the splits and normalises, into out (f32) or, where ob
// is not null, ob (bf16: the o_proj GEMM's input).
__global__ void attention_merge_k(const float* scratch, std::int64_t heads, std::int64_t d,
                                  int splits, float* out, std::uint16_t* ob) {
    const std::int64_t i = blockIdx.x, h = blockIdx.y, c = threadIdx.x;
    const float v = merged_value(scratch + (i * heads + h) * splits * (d + 2), splits, d, c);
    if (ob)
        ob[(i * heads + h) * d + c] = f2bf16(v);
    else
        out[(i * heads + h) * d + c] = v;
}

// out (f32) or ob (bf16, the down GEMM's input), whichever is not null.
__global__ void silu_mul_k(const float* gu, std::int64_t rows, std::int64_t F, float* out,
                           std::uint16_t* ob) {
    const std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (idx >= rows * F) return;
    const std::int64_t r = idx / F, j = idx % F;
    const float y = silu_mul_value(gu[r * 2 * F + j], gu[r * 2 * F + F + j]);
    if (out) out[idx] = y;
    if (ob) ob[idx] = f2bf16(y);
}

// Each token's q, k and v rows [S, nq | nkv | nkv] get their biases in one launch.
__global__ void add_bias_qkv_k(float* q, const float* bq, std::int64_t nq, float* k,
                               const float* bk, float* v, const float* bv, std::int64_t nkv,
                               std::int64_t S) {
    const std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x,
                       row = nq + 2 * nkv;
    if (idx >= S * row) return;
    const std::int64_t t = idx / row, c = idx % row;
    if (c < nq)
        q[t * nq + c] += bq[c];
    else if (c < nq + nkv)
        k[t * nkv + c - nq] += bk[c - nq];
    else
        v[t * nkv + c - nq - nkv] += bv[c - nq - nkv];
}

__global__ void route_k(const float* logits, std::int64_t S, std::int64_t E, int k, bool norm,
                        std::int32_t* index, float* weight) {
    const std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (t >= S) return;
    const float* x = logits + t * E;
    float mx = -FLT_MAX;
    for (std::int64_t e = 0; e < E; ++e) mx = fmaxf(mx, x[e]);
    double sum = 0.0;
    for (std::int64_t e = 0; e < E; ++e) sum += expf(x[e] - mx);
    double total = 0.0;
    std::int32_t* idx = index + t * k;
    float* wt = weight + t * k;
    for (int j = 0; j < k; ++j) {
        int best = -1;
        float bp = -1.0f;
        for (std::int64_t e = 0; e < E; ++e) {
            bool taken = false;
            for (int q = 0; q < j; ++q) taken |= idx[q] == e;
            const float p = float(expf(x[e] - mx) / sum);
            if (!taken && p > bp) {
                bp = p;
                best = int(e);
            }
        }
        idx[j] = best;
        wt[j] = bp;
        total += bp;
    }
    if (norm)
        for (int j = 0; j < k; ++j) wt[j] = float(wt[j] / total);
}

// One warp per token (E <= kRouteMaxExperts): route_warp (route_util.cuh), the same choice as
// route_k with warp reductions. route_k's single thread took tens of microseconds per decode
// layer at 128 experts, in series with the experts it chooses.
__global__ void route_warp_k(const float* logits, std::int64_t E, int k, bool norm,
                             std::int32_t* index, float* weight) {
    __shared__ float p[kRouteMaxExperts];
    const std::int64_t t = blockIdx.x;
    route_warp(logits + t * E, E, k, norm, index + t * k, weight + t * k, p, int(threadIdx.x));
}

__global__ void gather_rows_k(const float* x, const std::int32_t* src, std::int64_t H,
                              std::uint16_t* out) {
    const std::int64_t r = blockIdx.x;
    const float* s = x + std::int64_t(src[r]) * H;
    for (std::int64_t c = threadIdx.x; c < H; c += blockDim.x) out[r * H + c] = f2bf16(s[c]);
}

// Token blockIdx.y, columns blockIdx.x · blockDim.x on: one column per thread, so a decode step
// (one token) spreads over H / 256 blocks instead of one (15 us per layer on the H200).
__global__ void moe_combine_k(float* x, const float* d, const std::int32_t* row_of,
                              const float* weight, int K, std::int64_t H) {
    const std::int64_t i = blockIdx.y, c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (c >= H) return;
    float o = 0.0f;
    for (int j = 0; j < K; ++j)
        o += weight[i * K + j] *
             d[std::int64_t(row_of ? row_of[i * K + j] : std::int32_t(i * K + j)) * H + c];
    x[i * H + c] += o;
}

__global__ void moe_pointers_k(const std::int32_t* index, int K, const std::uint16_t* gate_up,
                               std::int64_t gu_stride, const std::uint16_t* down,
                               std::int64_t down_stride, const std::uint16_t* x, float* gu,
                               std::int64_t gu_cols, const std::uint16_t* act,
                               std::int64_t act_cols, float* out, std::int64_t out_cols,
                               void** ptrs) {
    const int j = threadIdx.x;
    if (j >= K) return;
    ptrs[j] = const_cast<std::uint16_t*>(gate_up + std::int64_t(index[j]) * gu_stride);
    ptrs[K + j] = const_cast<std::uint16_t*>(x);
    ptrs[2 * K + j] = gu + j * gu_cols;
    ptrs[3 * K + j] = const_cast<std::uint16_t*>(down + std::int64_t(index[j]) * down_stride);
    ptrs[4 * K + j] = const_cast<std::uint16_t*>(act + j * act_cols);
    ptrs[5 * K + j] = out + j * out_cols;
}

__global__ void add_k(float* x, const float* y, std::int64_t n) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void argmax_k(const float* x, std::int64_t n, std::int32_t* out) {
    const float* r = x + blockIdx.x * n;
    float bv = -INFINITY;
    std::int64_t bi = n;
    // Eight independent loads per pass (one in flight per thread left a single block at ~10 GB/s:
    // 62 us for a 151936-token vocabulary on the H200); each thread still visits its indices in
    // increasing order and keeps the first of equal values.
    constexpr int kIn = 8;
    const std::int64_t B = blockDim.x;
    std::int64_t i = threadIdx.x;
    for (; i + (kIn - 1) * B < n; i += kIn * B) {
        float v[kIn];
#pragma unroll
        for (int u = 0; u < kIn; ++u) v[u] = r[i + u * B];
#pragma unroll
        for (int u = 0; u < kIn; ++u)
            if (v[u] > bv) {  // strictly greater: the lower index wins ties within a thread
                bv = v[u];
                bi = i + u * B;
            }
    }
    for (; i < n; i += B)
        if (r[i] > bv) {
            bv = r[i];
            bi = i;
        }
    __shared__ float sv[1024];
    __shared__ std::int64_t si[1024];
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float ov = sv[threadIdx.x + s];
            const std::int64_t oi = si[threadIdx.x + s];
            if (ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < si[threadIdx.x])) {
                sv[threadIdx.x] = ov;
                si[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = std::int32_t(si[0] < n ? si[0] : 0);
}

// Block-wide reductions for the single-block sampler (blockDim.x a power of two, <= 1024).
template <typename T, typename Op>
__device__ T block_reduce(T v, T* sh, Op op) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] = op(sh[threadIdx.x], sh[threadIdx.x + s]);
        __syncthreads();
    }
    const T r = sh[0];
    __syncthreads();
    return r;
}

struct MaxF {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumD {
    __device__ double operator()(double a, double b) const { return a + b; }
};

constexpr int kSampleThreads = 1024;

__global__ void top_p_k(const float* x, std::int64_t n, float temp, float top_p, float u, float* p,
                        std::int32_t* out, float* info) {
    __shared__ float shf[kSampleThreads];
    __shared__ double shd[kSampleThreads];
    float mx = -INFINITY;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_reduce(mx, shf, MaxF{});
    double s = 0;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float e = expf((x[i] - mx) / temp);
        p[i] = e;
        s += e;
    }
    s = block_reduce(s, shd, SumD{});
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) p[i] = float(p[i] / s);
    __syncthreads();
    auto mass = [&](float t) {
        double m = 0;
        for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
            if (p[i] >= t) m += p[i];
        return block_reduce(m, shd, SumD{});
    };
    float lo = 0.0f, hi = 1.0f;
    for (int it = 0; it < kTopPBisections; ++it) {
        const float mid = top_p_threshold_step(lo, hi);
        if (mass(mid) >= double(top_p))
            lo = mid;
        else
            hi = mid;
    }
    const float kept = float(mass(lo));
    // Each thread sums a contiguous chunk; thread 0 walks the chunks, then the chosen chunk.
    const std::int64_t chunk = (n + blockDim.x - 1) / blockDim.x;
    const std::int64_t b = threadIdx.x * chunk, e = min(n, b + chunk);
    double cs = 0;
    for (std::int64_t i = b; i < e; ++i)
        if (p[i] >= lo) cs += p[i];
    shd[threadIdx.x] = cs;
    __syncthreads();
    if (threadIdx.x != 0) return;
    const double target = double(u) * double(kept);
    double c = 0;
    std::int32_t id = -1;
    for (unsigned t = 0; t < blockDim.x && id < 0; ++t) {
        if (c + shd[t] <= target) {
            c += shd[t];
            continue;
        }
        for (std::int64_t i = t * chunk; i < min(n, (t + 1) * chunk); ++i)
            if (p[i] >= lo) {
                c += p[i];
                if (c > target) {
                    id = std::int32_t(i);
                    break;
                }
            }
    }
    for (std::int64_t i = n - 1; id < 0 && i >= 0; --i)  // rounding left c <= target
        if (p[i] >= lo) id = std::int32_t(i);
    out[0] = id;
    info[0] = lo;
    info[1] = kept;
}

}  // namespace

void sample_top_p(const float* logits, std::int64_t n, float temperature, float top_p, float u,
                  float* p, std::int32_t* out, float* info, void* s) {
    top_p_k<<<1, kSampleThreads, 0, S(s)>>>(logits, n, temperature, top_p, u, p, out, info);
    check_launch("sample_top_p");
}

void to_bf16(const float* x, std::uint16_t* y, std::int64_t n, void* s) {
    if (n == 0) return;
    to_bf16_k<<<blocks(n, 256), 256, 0, S(s)>>>(x, y, n);
    check_launch("to_bf16");
}
void fill_random_bf16(std::uint16_t* w, std::int64_t n, std::uint64_t seed, float scale, void* s) {
    if (n == 0) return;
    fill_random_k<<<blocks(n, 256), 256, 0, S(s)>>>(w, n, seed, scale);
    check_launch("fill_random_bf16");
}
void fill_f32(float* x, std::int64_t n, float v, void* s) {
    if (n == 0) return;
    fill_f32_k<<<blocks(n, 256), 256, 0, S(s)>>>(x, n, v);
    check_launch("fill_f32");
}
void embed_gather(const std::uint16_t* table, const std::int32_t* ids, std::int64_t Sq,
                  std::int64_t H, float* out, void* s) {
    embed_k<<<unsigned(Sq), 256, 0, S(s)>>>(table, ids, H, out);
    check_launch("embed_gather");
}
void rms_norm(const float* x, const float* w, std::int64_t rows, std::int64_t d, float eps,
              float* out, void* s) {
    if (rows == 0) return;
    rms_norm_k<<<unsigned(rows), norm_threads(d), 0, S(s)>>>(x, w, d, eps, out, nullptr);
    check_launch("rms_norm");
}
void rms_norm_bf16(const float* x, const float* w, std::int64_t rows, std::int64_t d, float eps,
                   float* out, std::uint16_t* out_bf16, void* s) {
    if (rows == 0) return;
    rms_norm_k<<<unsigned(rows), norm_threads(d), 0, S(s)>>>(x, w, d, eps, out, out_bf16);
    check_launch("rms_norm_bf16");
}
void rope(float* x, std::int64_t Sq, std::int64_t heads, std::int64_t half, const std::int32_t* pos,
          const float* inv_freq, const std::int32_t* axis, void* s) {
    const std::int64_t n = Sq * heads * half;
    if (n == 0) return;
    rope_k<<<blocks(n, 256), 256, 0, S(s)>>>(x, Sq, heads, half, pos, inv_freq, axis);
    check_launch("rope");
}
void qk_norm_rope(float* q, float* kk, std::int64_t Sq, std::int64_t NH, std::int64_t KH,
                  std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                  const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                  void* s) {
    const std::int64_t rows = Sq * (NH + KH);
    if (rows == 0 || half == 0) return;
    qk_norm_rope_k<<<unsigned(rows), norm_threads(2 * half), 0, S(s)>>>(
        q, kk, Sq, NH, KH, half, q_norm, k_norm, eps, pos, inv_freq, axis);
    check_launch("qk_norm_rope");
}
// The templated kernels launch through a pointer to their instance, which keeps each launch
// the launch of a plain name (the form tools/cuda_host_emu/run.sh rewrites).
template <typename T, bool kDevicePast>
void kv_append_t(const float* kk, const float* v, std::int64_t Sq, std::int64_t KH, std::int64_t d,
                 T* kc, T* vc, std::int64_t cap, std::int64_t past, const std::int64_t* past_d,
                 void* s) {
    const std::int64_t n = Sq * KH * d;
    if (n == 0) return;
    auto* kernel = &kv_append_k<T, kDevicePast>;
    kernel<<<blocks(n, 256), 256, 0, S(s)>>>(kk, v, Sq, KH, d, kc, vc, cap, past, past_d);
    check_launch(kDevicePast ? "kv_append_decode" : "kv_append");
}
void kv_append(const float* kk, const float* v, std::int64_t Sq, std::int64_t KH, std::int64_t d,
               float* kc, float* vc, std::int64_t cap, std::int64_t past, void* s) {
    kv_append_t<float, false>(kk, v, Sq, KH, d, kc, vc, cap, past, nullptr, s);
}
void kv_append(const float* kk, const float* v, std::int64_t Sq, std::int64_t KH, std::int64_t d,
               std::uint16_t* kc, std::uint16_t* vc, std::int64_t cap, std::int64_t past, void* s) {
    kv_append_t<std::uint16_t, false>(kk, v, Sq, KH, d, kc, vc, cap, past, nullptr, s);
}
template <typename T, bool kDevicePast>
void qk_norm_rope_append_t(float* q, float* kk, const float* v, std::int64_t NH, std::int64_t KH,
                           std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                           const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                           T* kc, T* vc, std::int64_t cap, std::int64_t past,
                           const std::int64_t* past_d, void* s) {
    if (half == 0 || NH + KH == 0) return;
    launch_pdl(&qk_norm_rope_append_k<T, kDevicePast>, unsigned(NH + 2 * KH),
               norm_threads(2 * half), s, q, kk, v, NH, KH, half, q_norm, k_norm, eps, pos,
               inv_freq, axis, kc, vc, cap, past, past_d);
    check_launch(kDevicePast ? "qk_norm_rope_append_decode" : "qk_norm_rope_append");
}
void qk_norm_rope_append(float* q, float* kk, const float* v, std::int64_t NH, std::int64_t KH,
                         std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                         const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                         float* kc, float* vc, std::int64_t cap, std::int64_t past, void* s) {
    qk_norm_rope_append_t<float, false>(q, kk, v, NH, KH, half, q_norm, k_norm, eps, pos, inv_freq,
                                        axis, kc, vc, cap, past, nullptr, s);
}
void qk_norm_rope_append(float* q, float* kk, const float* v, std::int64_t NH, std::int64_t KH,
                         std::int64_t half, const float* q_norm, const float* k_norm, float eps,
                         const std::int32_t* pos, const float* inv_freq, const std::int32_t* axis,
                         std::uint16_t* kc, std::uint16_t* vc, std::int64_t cap, std::int64_t past,
                         void* s) {
    qk_norm_rope_append_t<std::uint16_t, false>(q, kk, v, NH, KH, half, q_norm, k_norm, eps, pos,
                                                inv_freq, axis, kc, vc, cap, past, nullptr, s);
}
void qk_norm_rope_append_decode(float* q, float* kk, const float* v, std::int64_t NH,
                                std::int64_t KH, std::int64_t half, const float* q_norm,
                                const float* k_norm, float eps, const std::int32_t* pos,
                                const float* inv_freq, const std::int32_t* axis, float* kc,
                                float* vc, std::int64_t cap, const std::int64_t* past_d, void* s) {
    qk_norm_rope_append_t<float, true>(q, kk, v, NH, KH, half, q_norm, k_norm, eps, pos, inv_freq,
                                       axis, kc, vc, cap, 0, past_d, s);
}
void qk_norm_rope_append_decode(float* q, float* kk, const float* v, std::int64_t NH,
                                std::int64_t KH, std::int64_t half, const float* q_norm,
                                const float* k_norm, float eps, const std::int32_t* pos,
                                const float* inv_freq, const std::int32_t* axis, std::uint16_t* kc,
                                std::uint16_t* vc, std::int64_t cap, const std::int64_t* past_d,
                                void* s) {
    qk_norm_rope_append_t<std::uint16_t, true>(q, kk, v, NH, KH, half, q_norm, k_norm, eps, pos,
                                               inv_freq, axis, kc, vc, cap, 0, past_d, s);
}
void kv_append_decode(const float* kk, const float* v, std::int64_t KH, std::int64_t d, float* kc,
                      float* vc, std::int64_t cap, const std::int64_t* past_d, void* s) {
    kv_append_t<float, true>(kk, v, 1, KH, d, kc, vc, cap, 0, past_d, s);
}
void kv_append_decode(const float* kk, const float* v, std::int64_t KH, std::int64_t d,
                      std::uint16_t* kc, std::uint16_t* vc, std::int64_t cap,
                      const std::int64_t* past_d, void* s) {
    kv_append_t<std::uint16_t, true>(kk, v, 1, KH, d, kc, vc, cap, 0, past_d, s);
}
std::int64_t attention_scratch_floats(std::int64_t q_len, std::int64_t heads, std::int64_t d,
                                      int splits) {
    return q_len * heads * splits * (d + 2);
}
// kDevicePast (attention_decode): `past` is *past_d and `splits` the grid's (most) splits.
template <typename T, bool kDevicePast = false>
void attention_t(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
                 std::int64_t KH, std::int64_t d, const T* kc, const T* vc, std::int64_t cap,
                 float scale, int splits, float* scratch, float* out, std::uint16_t* ob, void* s,
                 unsigned* done, const std::int64_t* past_d = nullptr) {
    if (d % 32 != 0 || d > kMaxD)
        throw CudaError("CUDA attention: head_dim " + std::to_string(d) +
                        " is not a multiple of 32 up to 256");
    if (kDevicePast && (splits < 1 || splits > kMaxSplits))
        throw CudaError("CUDA attention_decode: " + std::to_string(splits) + " splits, not 1.." +
                        std::to_string(kMaxSplits));
    if (splits < 1) splits = 1;
    launch_pdl(&attention_partial_k<T, kDevicePast>,
               dim3(unsigned(q_len), unsigned(heads), unsigned(splits)), 32 * kWarps, s, q, past,
               past_d, heads, KH, d, kc, vc, cap, scale, scratch, done, out, ob);
    check_launch(kDevicePast ? "attention_decode_partial" : "attention_partial");
    if (done) return;  // the last split block of each head merged
    attention_merge_k<<<dim3(unsigned(q_len), unsigned(heads)), unsigned(d), 0, S(s)>>>(
        scratch, heads, d, splits, out, ob);
    check_launch("attention_merge");
}
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t KH, std::int64_t d, const float* kc, const float* vc, std::int64_t cap,
               float scale, int splits, float* scratch, float* out, void* s, unsigned* head_done) {
    attention_t(q, q_len, past, heads, KH, d, kc, vc, cap, scale, splits, scratch, out, nullptr, s,
                head_done);
}
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t KH, std::int64_t d, const float* kc, const float* vc, std::int64_t cap,
               float scale, int splits, float* scratch, std::uint16_t* out, void* s,
               unsigned* head_done) {
    attention_t(q, q_len, past, heads, KH, d, kc, vc, cap, scale, splits, scratch, nullptr, out, s,
                head_done);
}
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t KH, std::int64_t d, const std::uint16_t* kc, const std::uint16_t* vc,
               std::int64_t cap, float scale, int splits, float* scratch, float* out, void* s,
               unsigned* head_done) {
    attention_t(q, q_len, past, heads, KH, d, kc, vc, cap, scale, splits, scratch, out, nullptr, s,
                head_done);
}
void attention(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
               std::int64_t KH, std::int64_t d, const std::uint16_t* kc, const std::uint16_t* vc,
               std::int64_t cap, float scale, int splits, float* scratch, std::uint16_t* out,
               void* s, unsigned* head_done) {
    attention_t(q, q_len, past, heads, KH, d, kc, vc, cap, scale, splits, scratch, nullptr, out, s,
                head_done);
}
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t KH, std::int64_t d, const float* kc, const float* vc,
                      std::int64_t cap, float scale, int max_splits, float* scratch, float* out,
                      void* s, unsigned* head_done) {
    attention_t<float, true>(q, 1, 0, heads, KH, d, kc, vc, cap, scale, max_splits, scratch, out,
                             nullptr, s, head_done, past_d);
}
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t KH, std::int64_t d, const std::uint16_t* kc,
                      const std::uint16_t* vc, std::int64_t cap, float scale, int max_splits,
                      float* scratch, float* out, void* s, unsigned* head_done) {
    attention_t<std::uint16_t, true>(q, 1, 0, heads, KH, d, kc, vc, cap, scale, max_splits, scratch,
                                     out, nullptr, s, head_done, past_d);
}
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t KH, std::int64_t d, const float* kc, const float* vc,
                      std::int64_t cap, float scale, int max_splits, float* scratch,
                      std::uint16_t* out, void* s, unsigned* head_done) {
    attention_t<float, true>(q, 1, 0, heads, KH, d, kc, vc, cap, scale, max_splits, scratch,
                             nullptr, out, s, head_done, past_d);
}
void attention_decode(const float* q, const std::int64_t* past_d, std::int64_t heads,
                      std::int64_t KH, std::int64_t d, const std::uint16_t* kc,
                      const std::uint16_t* vc, std::int64_t cap, float scale, int max_splits,
                      float* scratch, std::uint16_t* out, void* s, unsigned* head_done) {
    attention_t<std::uint16_t, true>(q, 1, 0, heads, KH, d, kc, vc, cap, scale, max_splits, scratch,
                                     nullptr, out, s, head_done, past_d);
}
void silu_mul(const float* gu, std::int64_t rows, std::int64_t F, float* out, void* s) {
    if (rows * F == 0) return;
    silu_mul_k<<<blocks(rows * F, 256), 256, 0, S(s)>>>(gu, rows, F, out, nullptr);
    check_launch("silu_mul");
}
void silu_mul_bf16(const float* gu, std::int64_t rows, std::int64_t F, std::uint16_t* out,
                   void* s) {
    if (rows * F == 0) return;
    silu_mul_k<<<blocks(rows * F, 256), 256, 0, S(s)>>>(gu, rows, F, nullptr, out);
    check_launch("silu_mul_bf16");
}
void add_bias_qkv(float* q, const float* bq, std::int64_t nq, float* kk, const float* bk, float* v,
                  const float* bv, std::int64_t nkv, std::int64_t Sq, void* s) {
    const std::int64_t n = Sq * (nq + 2 * nkv);
    if (n == 0) return;
    add_bias_qkv_k<<<blocks(n, 256), 256, 0, S(s)>>>(q, bq, nq, kk, bk, v, bv, nkv, Sq);
    check_launch("add_bias_qkv");
}
void route_top_k(const float* logits, std::int64_t Sq, std::int64_t E, int kk, bool normalise,
                 std::int32_t* index, float* weight, void* s) {
    if (Sq == 0) return;
    if (E <= kRouteMaxExperts) {
        route_warp_k<<<unsigned(Sq), 32, 0, S(s)>>>(logits, E, kk, normalise, index, weight);
    } else {
        route_k<<<blocks(Sq, 64), 64, 0, S(s)>>>(logits, Sq, E, kk, normalise, index, weight);
    }
    check_launch("route_top_k");
}
void gather_rows_bf16(const float* x, const std::int32_t* src, std::int64_t n, std::int64_t H,
                      std::uint16_t* out, void* s) {
    if (n == 0) return;
    gather_rows_k<<<unsigned(n), 256, 0, S(s)>>>(x, src, H, out);
    check_launch("gather_rows_bf16");
}
void moe_combine(float* x, const float* d, const std::int32_t* row_of, const float* weight,
                 std::int64_t Sq, int K, std::int64_t H, void* s) {
    if (Sq == 0 || H == 0) return;
    const dim3 grid(blocks(H, 256), unsigned(Sq));
    moe_combine_k<<<grid, 256, 0, S(s)>>>(x, d, row_of, weight, K, H);
    check_launch("moe_combine");
}
void moe_pointers(const std::int32_t* index, int K, const std::uint16_t* gate_up,
                  std::int64_t gu_stride, const std::uint16_t* down, std::int64_t down_stride,
                  const std::uint16_t* x, float* gu, std::int64_t gu_cols, const std::uint16_t* act,
                  std::int64_t act_cols, float* out, std::int64_t out_cols, void** ptrs, void* s) {
    moe_pointers_k<<<1, 32 * ((K + 31) / 32), 0, S(s)>>>(index, K, gate_up, gu_stride, down,
                                                         down_stride, x, gu, gu_cols, act, act_cols,
                                                         out, out_cols, ptrs);
    check_launch("moe_pointers");
}
void add(float* x, const float* y, std::int64_t n, void* s) {
    if (n == 0) return;
    add_k<<<blocks(n, 256), 256, 0, S(s)>>>(x, y, n);
    check_launch("add");
}
void argmax(const float* x, std::int64_t rows, std::int64_t n, std::int32_t* out, void* s) {
    argmax_k<<<unsigned(rows), 1024, 0, S(s)>>>(x, n, out);
    check_launch("argmax");
}

bool pdl_from_env() {
    return !env_switch("DESKPILOT_CUDA_PDL", "0", "1", "0 or 1");
}

namespace {
ProcessSetting g_pdl{[] { return int(pdl_from_env()); }};
}  // namespace

bool pdl() {
    return g_pdl.get() == 1;
}

void set_pdl(bool on) {
    g_pdl.set(int(on));
}

bool pdl_launches() {
    if (!pdl()) return false;
    // The current device's compute capability, asked once per device (a launch may come from
    // any thread, each with its own current device).
    static std::atomic<int> major[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    int m = major[dev].load();
    if (m == 0) {
        if (cudaDeviceGetAttribute(&m, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
            return false;
        major[dev].store(m);
    }
    return m >= 9;
}

}  // namespace deskpilot::model::cuda::k
