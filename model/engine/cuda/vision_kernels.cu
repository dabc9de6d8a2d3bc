// The vision towers' CUDA kernels (see vision_kernels.h): plain kernels that match their CPU
// twins within float rounding; fusion into the GEMM epilogues comes with GPU measurements.
#include <cuda_runtime.h>

#include <string>

#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/launch_util.cuh"
#include "model/engine/cuda/vision_kernels.h"

namespace deskpilot::model::cuda::k {

namespace {

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
// `part` holds 33 floats; the result slot is apart from the per-warp slots, so two calls in a
// row need no extra barrier.
__device__ float block_sum(float v, float* part) {
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        float t = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
        t = warp_sum(t);
        if (threadIdx.x == 0) part[32] = t;
    }
    __syncthreads();
    return part[32];
}

__global__ void layer_norm_k(const float* x, const float* w, const float* b, std::int64_t d,
                             float eps, float* out) {
    __shared__ float part[33];
    const float* xr = x + blockIdx.x * d;
    float* o = out + blockIdx.x * d;
    float s = 0.0f;
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) s += xr[i];
    const float mean = block_sum(s, part) / float(d);
    float v = 0.0f;  // second pass over the centred values: no cancellation on large means
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
        const float c = xr[i] - mean;
        v += c * c;
    }
    const float inv = 1.0f / sqrtf(block_sum(v, part) / float(d) + eps);
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x)
        o[i] = (xr[i] - mean) * inv * w[i] + b[i];
}

__global__ void gelu_k(const float* x, std::int64_t n, bool tanh_form, float* out) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const float v = x[i];
    out[i] = tanh_form
                 ? 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)))
                 : 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
}

// One thread per (patch, q|k, head, j < hd/2): rotates the pair (j, j + hd/2).
__global__ void rope2d_k(float* qkv, std::int64_t S, std::int64_t heads, std::int64_t hd,
                         const std::int32_t* pos, const float* inv_freq) {
    const std::int64_t half = hd / 2, quarter = hd / 4;
    const std::int64_t idx = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (idx >= S * 2 * heads * half) return;
    const std::int64_t j = idx % half, vec = idx / half;  // vec: (s, part, h), part 0 q, 1 k
    const std::int64_t h = vec % heads, part = (vec / heads) % 2, s = vec / (2 * heads);
    const int axis = j < quarter ? 0 : 1;
    const float angle = float(pos[axis * S + s]) * inv_freq[j - axis * quarter];
    const float c = cosf(angle), sn = sinf(angle);
    float* v = qkv + ((s * 3 + part) * heads + h) * hd;
    const float a = v[j], b = v[j + half];
    v[j] = a * c - b * sn;
    v[j + half] = b * c + a * sn;
}

__global__ void add_bias_k(float* x, const float* b, std::int64_t rows, std::int64_t n) {
    const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (i < rows * n) x[i] += b[i % n];
}

__global__ void gather_rows_k(const float* x, const std::int32_t* src, std::int64_t width,
                              float* out) {
    const std::int64_t r = blockIdx.x;
    const float* from = x + std::int64_t(src[r]) * width;
    for (std::int64_t c = threadIdx.x; c < width; c += blockDim.x) out[r * width + c] = from[c];
}

__global__ void scatter_rows_k(const float* x, const std::int32_t* dst, std::int64_t width,
                               float* out) {
    const std::int64_t r = blockIdx.x;
    float* to = out + std::int64_t(dst[r]) * width;
    for (std::int64_t c = threadIdx.x; c < width; c += blockDim.x) to[c] = x[r * width + c];
}

}  // namespace

void layer_norm(const float* x, const float* w, const float* b, std::int64_t rows, std::int64_t d,
                float eps, float* out, void* s) {
    if (rows == 0 || d == 0) return;
    layer_norm_k<<<unsigned(rows), d >= 1024 ? 512 : 128, 0, S(s)>>>(x, w, b, d, eps, out);
    check_launch("layer_norm");
}

void gelu(const float* x, std::int64_t n, bool tanh_form, float* out, void* s) {
    if (n == 0) return;
    gelu_k<<<blocks(n, 256), 256, 0, S(s)>>>(x, n, tanh_form, out);
    check_launch(tanh_form ? "gelu_tanh" : "gelu_erf");
}

void rope2d(float* qkv, std::int64_t Sq, std::int64_t heads, std::int64_t hd,
            const std::int32_t* pos, const float* inv_freq, void* s) {
    if (hd % 4 != 0)
        throw CudaError("CUDA 2-D rotary: head_dim " + std::to_string(hd) +
                        " is not a multiple of 4");
    const std::int64_t n = Sq * 2 * heads * (hd / 2);
    if (n == 0) return;
    rope2d_k<<<blocks(n, 256), 256, 0, S(s)>>>(qkv, Sq, heads, hd, pos, inv_freq);
    check_launch("rope2d");
}

void add_bias(float* x, const float* b, std::int64_t rows, std::int64_t n, void* s) {
    if (rows == 0 || n == 0) return;
    add_bias_k<<<blocks(rows * n, 256), 256, 0, S(s)>>>(x, b, rows, n);
    check_launch("add_bias");
}

void gather_rows(const float* x, const std::int32_t* src, std::int64_t n, std::int64_t width,
                 float* out, void* s) {
    if (n == 0 || width == 0) return;
    gather_rows_k<<<unsigned(n), 256, 0, S(s)>>>(x, src, width, out);
    check_launch("gather_rows");
}

void scatter_rows(const float* x, const std::int32_t* dst, std::int64_t n, std::int64_t width,
                  float* out, void* s) {
    if (n == 0 || width == 0) return;
    scatter_rows_k<<<unsigned(n), 256, 0, S(s)>>>(x, dst, width, out);
    check_launch("scatter_rows");
}

}  // namespace deskpilot::model::cuda::k
