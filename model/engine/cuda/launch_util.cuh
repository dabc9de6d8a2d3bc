// What every .cu file of the engine uses to launch and reduce: the stream cast, the grid size, the
// warp sum, the bf16 conversions (and the K/V cache read, kv_load), SwiGLU's activation and
// programmatic dependent launch. Internal to model/engine/cuda/*.cu; include it after
// <cuda_runtime.h> (the host emulator, tools/cuda_host_emu, puts its own stand-in for that header
// in its place). Each .cu is its own nvcc unit, so the unnamed namespace gives each its private
// copy, as before (inline: no unused-function warning where a file needs only some of them).
#pragma once

#include <cstdint>
#include <utility>

#include "model/engine/cuda/pdl.h"

namespace deskpilot::model::cuda::k {
namespace {

inline cudaStream_t S(void* s) {
    return static_cast<cudaStream_t>(s);
}

// Blocks of `per` threads covering n elements.
inline unsigned blocks(std::int64_t n, int per) {
    return unsigned((n + per - 1) / per);
}

// Sum over the 32 lanes of a warp; every lane gets it.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// A bf16 value (raw bits) as f32: exact.
__device__ __forceinline__ float bf16f(std::uint16_t v) {
    return __uint_as_float(unsigned(v) << 16);
}
// f32 to bf16 bits, round to nearest even (twin: engine::f32_to_bf16); NaN stays NaN.
__device__ __forceinline__ std::uint16_t f2bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return std::uint16_t(u >> 16);
}

// A K/V cache element as f32: f32, or bf16 (raw bits). The one read of the split-K attention
// (kernels.cu) and both flash kernels, so they widen alike.
__device__ __forceinline__ float kv_load(const float* p) {
    return *p;
}
__device__ __forceinline__ float kv_load(const std::uint16_t* p) {
    return bf16f(*p);
}

// SwiGLU's activation: silu(g) · u, one expression for every kernel that computes it (silu_mul_k,
// the down GEMV that computes its own input), so they round alike.
__device__ __forceinline__ float silu_mul_value(float g, float u) {
    return g / (1.0f + expf(-g)) * u;
}

// Programmatic dependent launch (pdl.h). A kernel launched with launch_pdl may run while the
// kernel before it on the stream still runs, so before pdl_wait() it may only read what no kernel
// writes (the weights: prefetch_l2) and write nothing; pdl_wait() returns when the kernels before
// it have finished and their writes are visible (at once where the launch was a plain one).
// pdl_trigger() lets the next such kernel start launching once every block of this one has called
// it (or ended). On GPUs before Hopper, and on the host emulator, the three do nothing.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Asks L2 for the 128-byte line at p (a hint: no result, no fault).
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}

// kernel<<<grid, block, 0, s>>>(args...), with programmatic stream serialisation where
// pdl_launches(): the kernel must call pdl_wait() before it touches what other kernels write.
template <typename... P, typename... A>
inline void launch_pdl(void (*kernel)(P...), dim3 grid, dim3 block, void* s, A&&... args) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = 0;
    cfg.stream = S(s);
    cfg.attrs = attr;
    cfg.numAttrs = pdl_launches() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
