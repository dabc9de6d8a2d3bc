// Flash attention on tensor cores (flash_attention.h, FlashKernel::mma). A block takes 64 query
// rows of one head, 16 per warp: one m16 tile of mma.cuh's bf16 multiply-add. Per tile of 64 keys
// (K and V key-major in shared memory, both bf16, written 16 bytes at a time; the B fragments
// read with ldmatrix, V's transposed):
//   S = Q·Kᵀ         8 n-tiles of 8 keys, the Q fragments kept in registers for the whole walk;
//   online softmax   base 2, each row's max over the 4 lanes that hold it, the running output
//                    rescaled in registers (why the fragments are PTX's documented ones);
//   O += P·V         P straight from S's registers: the accumulator fragments of two adjacent
//                    n-tiles are, element for element, the A fragment of one k-step.
// Q, K, V and the softmax weights P are rounded to bf16, everything else is f32; the row sums
// add the rounded weights, so each output row is a weighted mean of V with weights that sum to
// one. Head dims that are not a multiple of 16 (72) are zero-padded to the next one. The f32
// kernel (flash_attention.cu) walks the keys with 16 rows a block on CUDA cores: about
// 10 TFLOP/s on the H200 (bench/RESULTS.md), most of a Qwen3-VL tower's time.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/flash_attention_args.cuh"
#include "model/engine/cuda/launch_util.cuh"
#include "model/engine/cuda/mma.cuh"

namespace deskpilot::model::cuda::k {

namespace {

using detail::FlashArgs;

constexpr int kMmaWarps = 4;
constexpr int kMmaQTile = 16 * kMmaWarps;  // query rows per block
constexpr int kMmaKTile = 64;              // keys per tile

// Two bf16 values in one register, `lo` in the lower half (mma.cuh's packing).
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
    return unsigned(f2bf16(lo)) | (unsigned(f2bf16(hi)) << 16);
}

// Query row i, head dims c and c + 1 of head h as bf16 (zero past the rows or the head dim).
template <int D>
__device__ __forceinline__ unsigned q_pair(const FlashArgs& a, std::int64_t h, std::int64_t i,
                                           int c) {
    if (i >= a.rows || c >= D) return 0u;  // D is even: c < D means c + 1 < D
    const float* q = a.q + i * a.q_row + h * D + c;
    return pack2(q[0], q[1]);
}

// The max over the four lanes that hold one row of an m16 tile (lanes 4g .. 4g+3).
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// grid (ceil(rows / kMmaQTile), heads), block 32·kMmaWarps. Shared: K and V [64][DP+8] bf16
// (34 KB at D = 128); the +8 columns make each row an odd number of 16-byte units, so the 8 rows
// an ldmatrix matrix reads fall in different banks. Each lane holds rows g and g + 8 of its warp's
// 16 (see mma.cuh).
template <int D, typename T>
__global__ void __launch_bounds__(32 * kMmaWarps) flash_mma_k(FlashArgs a) {
    constexpr int DP = (D + 15) / 16 * 16;  // head dims padded to whole k-steps
    constexpr int KS = DP / 16;             // k-steps of Q·Kᵀ
    constexpr int NT = kMmaKTile / 8;       // n-tiles of a score tile
    constexpr int DT = DP / 8;              // n-tiles of the output
    alignas(16) __shared__ std::uint16_t ks[kMmaKTile][DP + 8];
    alignas(16) __shared__ std::uint16_t vs[kMmaKTile][DP + 8];
    __shared__ std::int64_t lo_s[kMmaQTile], hi_s[kMmaQTile];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const std::int64_t h = blockIdx.y, kvh = h / a.group, i0 = std::int64_t(blockIdx.x) * kMmaQTile;
    const int r0 = warp * 16 + g, r1 = r0 + 8;  // this lane's rows within the block

    if (threadIdx.x < kMmaQTile)
        key_range(a, i0 + threadIdx.x, lo_s[threadIdx.x], hi_s[threadIdx.x]);
    unsigned qa[KS][4];
    for (int s = 0; s < KS; ++s) {
        const int c = s * 16 + tq * 2;
        qa[s][0] = q_pair<D>(a, h, i0 + r0, c);
        qa[s][1] = q_pair<D>(a, h, i0 + r1, c);
        qa[s][2] = q_pair<D>(a, h, i0 + r0, c + 8);
        qa[s][3] = q_pair<D>(a, h, i0 + r1, c + 8);
    }
    __syncthreads();
    std::int64_t klo, khi;
    block_keys(lo_s, hi_s, kMmaQTile, klo, khi);
    const std::int64_t lo0 = lo_s[r0], hi0 = hi_s[r0], lo1 = lo_s[r1], hi1 = hi_s[r1];
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // per lane: its keys' share
    float o[DT][4];
    for (int d = 0; d < DT; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    const T* kb = static_cast<const T*>(a.k) + kvh * a.kv_head;
    const T* vb = static_cast<const T*>(a.v) + kvh * a.kv_head;

    for (std::int64_t k0 = klo; k0 < khi; k0 += kMmaKTile) {
        __syncthreads();  // every warp is done with the previous tile
        // 8 head dims of one key a thread, converted and stored as one 16-byte word each for K
        // and V (D is a multiple of 8: a chunk is all head dims or all padding).
        for (int idx = threadIdx.x; idx < kMmaKTile * DP / 8; idx += blockDim.x) {
            const int j = idx / (DP / 8), c = idx % (DP / 8) * 8;
            const std::int64_t t = k0 + j;
            unsigned kw[4] = {0u, 0u, 0u, 0u}, vw[4] = {0u, 0u, 0u, 0u};
            if (t < khi && c < D) {
                const T* kp = kb + t * a.kv_row + c;
                const T* vp = vb + t * a.kv_row + c;
                for (int e = 0; e < 4; ++e) {
                    kw[e] = pack2(kv_load(kp + 2 * e), kv_load(kp + 2 * e + 1));
                    vw[e] = pack2(kv_load(vp + 2 * e), kv_load(vp + 2 * e + 1));
                }
            }
            for (int e = 0; e < 4; ++e) {
                reinterpret_cast<unsigned*>(&ks[j][c])[e] = kw[e];
                reinterpret_cast<unsigned*>(&vs[j][c])[e] = vw[e];
            }
        }
        __syncthreads();

        // S = Q·Kᵀ, the B fragments of two key tiles a load: lanes 8i..8i+7 address tile
        // n + i / 2's keys at head dims kk·16 + (i % 2)·8.
        float s[NT][4];
        for (int n = 0; n < NT; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
        for (int n = 0; n < NT; n += 2)
            for (int kk = 0; kk < KS; ++kk) {
                unsigned b[4];
                ldmatrix_x4(b, &ks[(n + lane / 16) * 8 + lane % 8][kk * 16 + (lane / 8) % 2 * 8]);
                mma_bf16_16816(s[n], qa[kk], b[0], b[1]);
                mma_bf16_16816(s[n + 1], qa[kk], b[2], b[3]);
            }
        // Scale to base 2 and mask: keys outside a row's range (causal, segment, tile end)
        // score -inf.
        float mx0 = -INFINITY, mx1 = -INFINITY;
        for (int n = 0; n < NT; ++n)
            for (int e = 0; e < 2; ++e) {
                const std::int64_t t = k0 + n * 8 + tq * 2 + e;
                s[n][e] = t >= lo0 && t < hi0 ? s[n][e] * a.scale_log2 : -INFINITY;
                s[n][2 + e] = t >= lo1 && t < hi1 ? s[n][2 + e] * a.scale_log2 : -INFINITY;
                mx0 = fmaxf(mx0, s[n][e]);
                mx1 = fmaxf(mx1, s[n][2 + e]);
            }
        const float n0 = fmaxf(m0, quad_max(mx0)), n1 = fmaxf(m1, quad_max(mx1));
        // A row with no key yet (n = -inf) has nothing to rescale: factor 1, weights 0.
        const float c0 = n0 == -INFINITY ? 1.0f : exp2f(m0 - n0),
                    c1 = n1 == -INFINITY ? 1.0f : exp2f(m1 - n1);
        m0 = n0;
        m1 = n1;
        l0 *= c0;
        l1 *= c1;
        for (int d = 0; d < DT; ++d) {
            o[d][0] *= c0;
            o[d][1] *= c0;
            o[d][2] *= c1;
            o[d][3] *= c1;
        }
        for (int n = 0; n < NT; ++n)
            for (int e = 0; e < 4; ++e) {
                const float x = s[n][e], mr = e < 2 ? n0 : n1;
                const float p = x == -INFINITY ? 0.0f : bf16f(f2bf16(exp2f(x - mr)));
                s[n][e] = p;
                if (e < 2)
                    l0 += p;
                else
                    l1 += p;
            }
        for (int kc = 0; kc < kMmaKTile / 16; ++kc) {
            const unsigned pa[4] = {pack2(s[2 * kc][0], s[2 * kc][1]),
                                    pack2(s[2 * kc][2], s[2 * kc][3]),
                                    pack2(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                                    pack2(s[2 * kc + 1][2], s[2 * kc + 1][3])};
            // O += P·V, V's B fragments of two head-dim tiles a load, transposed from its
            // key-major rows: lanes 8i..8i+7 address keys kc·16 + (i % 2)·8 of tile d + i / 2.
            for (int d = 0; d < DT; d += 2) {
                unsigned b[4];
                ldmatrix_x4_trans(
                    b, &vs[kc * 16 + (lane / 8) % 2 * 8 + lane % 8][(d + lane / 16) * 8]);
                mma_bf16_16816(o[d], pa, b[0], b[1]);
                mma_bf16_16816(o[d + 1], pa, b[2], b[3]);
            }
        }
    }

    l0 = quad_sum(l0);
    l1 = quad_sum(l1);
    for (int half = 0; half < 2; ++half) {
        const std::int64_t i = i0 + (half ? r1 : r0);
        const float l = half ? l1 : l0;
        if (i >= a.rows || !(l > 0.0f)) continue;  // past the end, or outside every segment
        const float inv = 1.0f / l;
        float* out = a.out + i * a.o_row + h * D;
        for (int d = 0; d < DT; ++d) {
            const int col = d * 8 + tq * 2;
            if (col >= D) continue;  // the padding (D is even: col + 1 < D too)
            out[col] = o[d][2 * half] * inv;
            out[col + 1] = o[d][2 * half + 1] * inv;
        }
    }
}

template <int D, typename T>
void launch_mma(const FlashArgs& a, std::int64_t heads, void* stream) {
    const dim3 grid(unsigned((a.rows + kMmaQTile - 1) / kMmaQTile), unsigned(heads));
    flash_mma_k<D, T><<<grid, 32 * kMmaWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);
}

template <typename T>
void dispatch_mma(const FlashArgs& a, std::int64_t heads, std::int64_t d, void* stream) {
    if (!with_head_dim(d, [&](auto dim) { launch_mma<decltype(dim)::value, T>(a, heads, stream); }))
        throw CudaError("flash attention (mma): head_dim " + std::to_string(d) +
                        " is not supported");
}

}  // namespace

void detail::flash_mma(const FlashArgs& a, std::int64_t heads, std::int64_t d, bool bf16_kv,
                       void* stream) {
    if (bf16_kv)
        dispatch_mma<std::uint16_t>(a, heads, d, stream);
    else
        dispatch_mma<float>(a, heads, d, stream);
}

}  // namespace deskpilot::model::cuda::k
