// What every .cu file of the engine uses to launch and reduce: the stream cast, the grid size, the
// warp sum, the bf16 conversions and SwiGLU's activation. Internal to model/engine/cuda/*.cu;
// include it after <cuda_runtime.h> (the host emulator, tools/cuda_host_emu, puts its own stand-in
// for that header in its place). Each .cu is its own nvcc unit, so the unnamed namespace gives each
// its private copy, as before (inline: no unused-function warning where a file needs only some of
// them).
#pragma once

#include <cstdint>

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

// SwiGLU's activation: silu(g) · u, one expression for every kernel that computes it (silu_mul_k,
// the down GEMV that computes its own input), so they round alike.
__device__ __forceinline__ float silu_mul_value(float g, float u) {
    return g / (1.0f + expf(-g)) * u;
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
