// Flash-style attention (see flash_attention.h). A block takes 16 queries of one head (4 warps ×
// 4 rows) and walks its keys in tiles of 32 held in shared memory: each lane scores one key of
// the tile against the warp's 4 queries, the warp updates each row's running max and sum (online
// softmax, base 2 with log2(e) folded into q), then every lane accumulates its slice of the
// head dims over the tile's 32 values. Plain f32 (no tensor cores: the twins are f32); GQA heads
// of one group still each load their K/V tiles. FlashKernel::mma sends the same calls to the
// tensor-core kernel instead (flash_attention_mma.cu).
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <type_traits>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/env_switch.h"
#include "model/engine/cuda/flash_attention.h"
#include "model/engine/cuda/flash_attention_args.cuh"
#include "model/engine/cuda/launch_util.cuh"

namespace deskpilot::model::cuda::k {

namespace {

constexpr int kWarps = 4;
constexpr int kRows = 4;                // query rows per warp
constexpr int kQTile = kWarps * kRows;  // query rows per block
constexpr int kKTile = 32;              // keys per tile: one per lane when scoring
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

using Args = detail::FlashArgs;

// grid (ceil(rows / kQTile), heads), block 32·kWarps. Shared: 16·D + 32·(D+1) + 32·D floats
// (41 KB at D = 128, under the 48 KB static limit); K rows are padded to D+1 so the 32 lanes
// reading one dim of 32 keys hit 32 banks (D even makes D+1 odd). K/V elements T: f32, or bf16
// widened to f32 as the tiles load (the tiles and all arithmetic stay f32).
template <int D, typename T>
__global__ void __launch_bounds__(32 * kWarps) flash_k(Args a) {
    constexpr int NR = (D + 31) / 32;  // head dims per lane
    __shared__ float qs[kQTile][D];
    __shared__ float ks[kKTile][D + 1];
    __shared__ float vs[kKTile][D];
    __shared__ std::int64_t lo_s[kQTile], hi_s[kQTile];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const std::int64_t h = blockIdx.y, g = h / a.group, i0 = std::int64_t(blockIdx.x) * kQTile;

    if (threadIdx.x < kQTile) key_range(a, i0 + threadIdx.x, lo_s[threadIdx.x], hi_s[threadIdx.x]);
    for (int idx = threadIdx.x; idx < kQTile * D; idx += blockDim.x) {
        const int r = idx / D, c = idx % D;
        const std::int64_t i = i0 + r;
        qs[r][c] = i < a.rows ? a.q[i * a.q_row + h * D + c] * a.scale_log2 : 0.0f;
    }
    __syncthreads();
    std::int64_t klo, khi;
    block_keys(lo_s, hi_s, kQTile, klo, khi);
    std::int64_t rlo[kRows], rhi[kRows];
    float m[kRows], l[kRows], acc[kRows][NR];
    for (int r = 0; r < kRows; ++r) {
        rlo[r] = lo_s[warp * kRows + r];
        rhi[r] = hi_s[warp * kRows + r];
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (int c = 0; c < NR; ++c) acc[r][c] = 0.0f;
    }
    const T* kb = static_cast<const T*>(a.k) + g * a.kv_head;
    const T* vb = static_cast<const T*>(a.v) + g * a.kv_head;

    for (std::int64_t k0 = klo; k0 < khi; k0 += kKTile) {
        __syncthreads();  // every warp is done with the previous tile
        for (int idx = threadIdx.x; idx < kKTile * D; idx += blockDim.x) {
            const int j = idx / D, c = idx % D;
            const std::int64_t t = k0 + j;
            const bool in = t < khi;
            ks[j][c] = in ? kv_load(kb + t * a.kv_row + c) : 0.0f;
            vs[j][c] = in ? kv_load(vb + t * a.kv_row + c) : 0.0f;
        }
        __syncthreads();

        float s[kRows];
        for (int r = 0; r < kRows; ++r) s[r] = 0.0f;
        for (int c = 0; c < D; ++c) {
            const float kv = ks[lane][c];
            for (int r = 0; r < kRows; ++r) s[r] += qs[warp * kRows + r][c] * kv;
        }
        const std::int64_t t = k0 + lane;
        float p[kRows];
        for (int r = 0; r < kRows; ++r) {
            const bool in = t >= rlo[r] && t < rhi[r];
            const float sr = in ? s[r] : -INFINITY;
            const float tile_max = warp_max(sr);  // the same in every lane: branches stay uniform
            p[r] = 0.0f;
            if (tile_max == -INFINITY) continue;  // no key of this tile is the row's
            const float mn = fmaxf(m[r], tile_max);
            const float corr = exp2f(m[r] - mn);  // 0 on the row's first keys (m = -inf)
            p[r] = in ? exp2f(sr - mn) : 0.0f;
            l[r] = l[r] * corr + warp_sum(p[r]);
            for (int c = 0; c < NR; ++c) acc[r][c] *= corr;
            m[r] = mn;
        }
        for (int j = 0; j < kKTile; ++j) {
            float v[NR];
            for (int c = 0; c < NR; ++c) {
                const int col = lane + 32 * c;
                v[c] = (D % 32 == 0 || col < D) ? vs[j][col] : 0.0f;
            }
            for (int r = 0; r < kRows; ++r) {
                const float pj = __shfl_sync(0xffffffffu, p[r], j);
                for (int c = 0; c < NR; ++c) acc[r][c] += pj * v[c];
            }
        }
    }

    for (int r = 0; r < kRows; ++r) {
        const std::int64_t i = i0 + warp * kRows + r;
        if (i >= a.rows || !(l[r] > 0.0f)) continue;  // past the end, or outside every segment
        const float inv = 1.0f / l[r];
        float* o = a.out + i * a.o_row + h * D;
        for (int c = 0; c < NR; ++c) {
            const int col = lane + 32 * c;
            if (D % 32 == 0 || col < D) o[col] = acc[r][c] * inv;
        }
    }
}

void require_head_dim(std::int64_t d, const char* what) {
    if (!flash_attention_supports(d))
        throw CudaError(std::string(what) + ": head_dim " + std::to_string(d) +
                        " is not supported (16, 32, 64, 72, 80 or 128)");
}

template <int D, typename T>
void launch(const Args& a, std::int64_t heads, void* stream) {
    const dim3 grid(unsigned((a.rows + kQTile - 1) / kQTile), unsigned(heads));
    flash_k<D, T><<<grid, 32 * kWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);
}

template <typename T = float>
void dispatch(const Args& a, std::int64_t heads, std::int64_t d, const char* what, void* stream) {
    if (flash_kernel() == FlashKernel::mma) {
        require_head_dim(d, what);
        detail::flash_mma(a, heads, d, std::is_same_v<T, std::uint16_t>, stream);
        check_launch(what);
        return;
    }
    if (!with_head_dim(d, [&](auto dim) { launch<decltype(dim)::value, T>(a, heads, stream); }))
        require_head_dim(d, what);
    check_launch(what);
}

}  // namespace

FlashKernel flash_kernel_from_env() {
    return env_switch("DESKPILOT_CUDA_FLASH", "f32", "mma", "f32 or mma") ? FlashKernel::f32
                                                                          : FlashKernel::mma;
}

namespace {
ProcessSetting g_flash_kernel{[] { return int(flash_kernel_from_env()); }};
}  // namespace

FlashKernel flash_kernel() {
    return FlashKernel(g_flash_kernel.get());
}

void set_flash_kernel(FlashKernel kernel) {
    g_flash_kernel.set(int(kernel));
}

bool flash_attention_supports(std::int64_t d) {
    return with_head_dim(d, [](auto) {});  // the dims the kernels are compiled for
}

template <typename T>
void causal(const float* q, std::int64_t q_len, std::int64_t past, std::int64_t heads,
            std::int64_t KH, std::int64_t d, const T* kc, const T* vc, std::int64_t cap,
            float scale, float* out, void* stream) {
    const char* what = "CUDA flash_attention_causal";
    require_head_dim(d, what);
    if (heads < 1 || KH < 1 || heads % KH != 0 || heads > 65535)
        throw CudaError(std::string(what) + ": heads " + std::to_string(heads) +
                        " is not a multiple of kv_heads " + std::to_string(KH) +
                        " (both at least 1, heads at most 65535)");
    if (q_len < 0 || past < 0 || past + q_len > cap)
        throw CudaError(std::string(what) + ": past " + std::to_string(past) + " + q_len " +
                        std::to_string(q_len) + " does not fit the cache's " + std::to_string(cap) +
                        " rows");
    if (q_len == 0) return;
    Args a{};
    a.q = q;
    a.k = kc;
    a.v = vc;
    a.out = out;
    a.rows = q_len;
    a.group = heads / KH;
    a.q_row = heads * d;
    a.kv_row = d;
    a.kv_head = cap * d;
    a.o_row = heads * d;
    a.scale_log2 = scale * kLog2e;
    a.past = past;
    dispatch<T>(a, heads, d, what, stream);
}

void flash_attention_causal(const float* q, std::int64_t q_len, std::int64_t past,
                            std::int64_t heads, std::int64_t KH, std::int64_t d, const float* kc,
                            const float* vc, std::int64_t cap, float scale, float* out,
                            void* stream) {
    causal(q, q_len, past, heads, KH, d, kc, vc, cap, scale, out, stream);
}
void flash_attention_causal(const float* q, std::int64_t q_len, std::int64_t past,
                            std::int64_t heads, std::int64_t KH, std::int64_t d,
                            const std::uint16_t* kc, const std::uint16_t* vc, std::int64_t cap,
                            float scale, float* out, void* stream) {
    causal(q, q_len, past, heads, KH, d, kc, vc, cap, scale, out, stream);
}

void flash_attention_segments(const float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                              const std::int32_t* segments, std::int64_t n_segments, float* out,
                              void* stream) {
    const char* what = "CUDA flash_attention_segments";
    require_head_dim(hd, what);
    if (heads < 1 || heads > 65535)
        throw CudaError(std::string(what) + ": heads " + std::to_string(heads) +
                        " is not in 1..65535");
    if (S < 0 || n_segments < 0 || (n_segments > 0 && segments == nullptr))
        throw CudaError(std::string(what) + ": " + std::to_string(n_segments) + " segments over " +
                        std::to_string(S) + " patches (negative, or no boundary array)");
    if (S == 0 || n_segments == 0) return;
    const std::int64_t hid = heads * hd;
    Args a{};
    a.q = qkv;
    a.k = qkv + hid;
    a.v = qkv + 2 * hid;
    a.out = out;
    a.rows = S;
    a.group = 1;
    a.q_row = 3 * hid;
    a.kv_row = 3 * hid;
    a.kv_head = hd;
    a.o_row = hid;
    a.scale_log2 = 1.0f / std::sqrt(float(hd)) * kLog2e;
    a.seg = segments;
    a.n_seg = n_segments;
    dispatch(a, heads, hd, what, stream);
}

}  // namespace deskpilot::model::cuda::k
